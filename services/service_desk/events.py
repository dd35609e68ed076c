"""Events the service desk emits (exchange ``service_desk.events``; catalogue: docs/events.md)."""
from __future__ import annotations

from crmkit.timeutil import iso

TICKET_CREATED = "ticket.created"

# consumed: none yet


def ticket_summary(ticket) -> dict:
    """The fields every ticket event carries."""
    return {
        "ticket_id": ticket.id, "number": ticket.number, "customer_id": ticket.customer_id,
        "contact_id": ticket.contact_id, "owner_id": ticket.owner_id, "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id, "title": ticket.title, "channel": ticket.channel,
        "category": ticket.category, "priority": ticket.priority, "status": ticket.status,
        "first_response_due": iso(ticket.first_response_due),
        "resolution_due": iso(ticket.resolution_due), "created_at": iso(ticket.created_at),
    }
