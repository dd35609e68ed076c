"""Events the leads service emits and consumes (catalogue: docs/events.md)."""
from __future__ import annotations

from crmkit.timeutil import iso

# emitted on exchange "leads.events"
LEAD_CREATED = "lead.created"
LEAD_UPDATED = "lead.updated"
LEAD_CLAIMED = "lead.claimed"
LEAD_RELEASED = "lead.released"
LEAD_ASSIGNED = "lead.assigned"
LEAD_FOLLOWED_UP = "lead.followed_up"
LEAD_CONVERTED = "lead.converted"

# consumed
CUSTOMER_CREATED = ("customers", "customer.created")


def lead_summary(lead) -> dict:
    """The fields every lead event carries."""
    return {
        "lead_id": lead.id, "name": lead.name, "company": lead.company, "source": lead.source,
        "pool": lead.pool, "status": lead.status, "owner_id": lead.owner_id,
        "follow_up_deadline": iso(lead.follow_up_deadline),
    }


def lead_converted(lead) -> dict:
    """Everything customers needs to create the customer, without asking us."""
    return {
        **lead_summary(lead), "title": lead.title, "phone": lead.phone, "email": lead.email,
        "region": lead.region, "industry": lead.industry, "tags": list(lead.tags or []),
        "notes": lead.notes,
    }
