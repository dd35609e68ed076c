"""Use cases of the service desk: one function per command or query.

Each takes the unit of work and the caller's principal, applies the pure rules
of ``domain/`` and reports what happened as events on the unit of work.
"""
from __future__ import annotations

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import Forbidden, NotFound, ValidationFailed
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.sequences import next_value
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.service_desk import events
from services.service_desk.domain import sla, tickets
from services.service_desk.models import Ticket, TicketSequence
from services.service_desk.schemas import TicketCreate

OPENERS = ("admin", "manager", "sales", "service")
def dump_ticket(t: Ticket) -> dict:
    return {
        "id": t.id, "number": t.number, "customer_id": t.customer_id,
        "contact_id": t.contact_id, "title": t.title, "description": t.description,
        "channel": t.channel, "category": t.category, "priority": t.priority,
        "status": t.status, "owner_id": t.owner_id, "team_id": t.team_id,
        "assignee_id": t.assignee_id,
        "first_response_due": timeutil.iso(t.first_response_due),
        "resolution_due": timeutil.iso(t.resolution_due),
        "created_at": timeutil.iso(t.created_at), "updated_at": timeutil.iso(t.updated_at),
    }


def _may_see_user(principal: Principal, user_id: str) -> bool:
    return principal.can_see_owner(user_id) or user_id == principal.user_id


def _visible(principal: Principal):
    """SQL condition: tickets the caller owns or is assigned, or whose owner or assignee
    is in the caller's scope."""
    return visible(principal, Ticket.owner_id, Ticket.assignee_id)


def _load(uow: UnitOfWork, principal: Principal, ticket_id: str) -> Ticket:
    ticket = uow.session.execute(sa.select(Ticket).where(
        Ticket.id == str(ticket_id), _visible(principal))).scalar_one_or_none()
    if ticket is None:
        raise NotFound("ticket_not_found", "ticket not found", {"ticket_id": ticket_id})
    return ticket


def next_number(session, year: int) -> str:
    """Take the year's next ticket number in the caller's transaction (crmkit.sequences)."""
    value = next_value(session, TicketSequence, TicketSequence.year, TicketSequence.last_value,
                       year)
    return tickets.ticket_number(year, value)


def create_ticket(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*OPENERS)
    if principal.user_id is None:
        raise Forbidden("forbidden", "a ticket needs a user as its owner")
    spec = parse(TicketCreate, data)
    if spec.assignee_id and not _may_see_user(principal, spec.assignee_id):
        raise ValidationFailed("unknown_assignee", "the assignee is not a user you may assign",
                               [{"field": "assignee_id", "message": "unknown or not visible"}])
    session, now = uow.session, timeutil.now()
    due = sla.deadlines(spec.priority, now)
    ticket = Ticket(number=next_number(session, timeutil.business_day(now).year),
                    customer_id=spec.customer_id, contact_id=spec.contact_id, title=spec.title,
                    description=spec.description, channel=spec.channel,
                    category=spec.category, priority=spec.priority, status=tickets.NEW_STATUS,
                    owner_id=principal.user_id, team_id=principal.team_id,
                    assignee_id=spec.assignee_id, first_response_due=due.first_response_due,
                    resolution_due=due.resolution_due, created_at=now, updated_at=now)
    session.add(ticket)
    session.flush()
    uow.emit(events.TICKET_CREATED, events.ticket_summary(ticket))
    return dump_ticket(ticket)


def list_tickets(uow: UnitOfWork, principal: Principal, customer_id=None, status=None,
                 cursor=None, limit=None) -> dict:
    query = sa.select(Ticket).where(_visible(principal))
    if customer_id:
        query = query.where(Ticket.customer_id == str(customer_id))
    if status:
        if status not in tickets.STATUSES:
            raise ValidationFailed("validation_error",
                                   f"status must be one of {', '.join(tickets.STATUSES)}",
                                   [{"field": "status", "message": "unknown status"}])
        query = query.where(Ticket.status == status)
    return paginate(uow.session, query, Ticket.id, cursor, page_limit(limit), dump_ticket)


def get_ticket(uow: UnitOfWork, principal: Principal, ticket_id: str) -> dict:
    return dump_ticket(_load(uow, principal, ticket_id))
