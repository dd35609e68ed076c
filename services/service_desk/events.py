"""Events the service desk emits (exchange ``service_desk.events``; catalogue: docs/events.md)."""
from __future__ import annotations

from crmkit.models import money
from crmkit.timeutil import iso

TICKET_CREATED = "ticket.created"
TICKET_ASSIGNED = "ticket.assigned"
TICKET_COMMENTED = "ticket.commented"
TICKET_STARTED = "ticket.started"
TICKET_WAITING = "ticket.waiting"
TICKET_RESUMED = "ticket.resumed"
TICKET_RESOLVED = "ticket.resolved"
TICKET_CLOSED = "ticket.closed"
TICKET_REOPENED = "ticket.reopened"
TICKET_RATED = "ticket.rated"
TICKET_SLA_WARNING = "ticket.sla_warning"
TICKET_SLA_BREACHED = "ticket.sla_breached"
TICKET_SLA_ESCALATED = "ticket.sla_escalated"  # the same alert, addressed to the manager
TICKET_ACTIONS = {"start": TICKET_STARTED, "wait": TICKET_WAITING, "resume": TICKET_RESUMED,
                  "resolve": TICKET_RESOLVED, "close": TICKET_CLOSED,
                  "reopen": TICKET_REOPENED}

RETURN_EVENTS = {"request": "return.requested", "approve": "return.approved",
                 "reject": "return.rejected", "receive": "return.received",
                 "refund": "return.refunded", "replace": "return.replaced",
                 "close": "return.closed"}
WORK_ORDER_EVENTS = {"create": "work_order.scheduled", "start": "work_order.started",
                     "complete": "work_order.completed", "cancel": "work_order.cancelled"}
CUSTOMER_REPOINTED = "service_desk.customer_merged"

# consumed
CONTRACT_SIGNED = ("sales", "contract.signed")
CUSTOMER_MERGED = ("customers", "customer.merged")


def ticket_summary(ticket) -> dict:
    """The fields every ticket event carries."""
    return {
        "ticket_id": ticket.id, "number": ticket.number, "customer_id": ticket.customer_id,
        "contact_id": ticket.contact_id, "owner_id": ticket.owner_id, "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id, "manager_id": ticket.manager_id,
        "title": ticket.title, "channel": ticket.channel,
        "category": ticket.category, "priority": ticket.priority, "status": ticket.status,
        "first_response_due": iso(ticket.first_response_due),
        "resolution_due": iso(ticket.resolution_due), "created_at": iso(ticket.created_at),
    }


def return_summary(ret) -> dict:
    return {
        "return_id": ret.id, "number": ret.number, "contract_id": ret.contract_id,
        "customer_id": ret.customer_id, "owner_id": ret.owner_id, "team_id": ret.team_id,
        "contract_owner_id": ret.contract_owner_id, "status": ret.status,
        "outcome": ret.outcome, "total_value": money(ret.total_value),
    }


def work_order_summary(order) -> dict:
    return {
        "work_order_id": order.id, "number": order.number, "customer_id": order.customer_id,
        "contract_id": order.contract_id, "kind": order.kind, "status": order.status,
        "scheduled_at": iso(order.scheduled_at), "assignee_id": order.assignee_id,
        "owner_id": order.owner_id, "team_id": order.team_id,
    }
