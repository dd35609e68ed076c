"""Use cases of the service desk's tickets, SLA and business calendar: one function per
command or query.

Each takes the unit of work and the caller's principal, applies the pure rules
of ``domain/`` and reports what happened as events on the unit of work.
Returns and work orders live in ``handlers_returns`` and ``handlers_work_orders``.
"""
from __future__ import annotations

import logging
import os
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.sequences import next_value
from crmkit.uow import UnitOfWork
from crmkit.validation import choice, page_limit, parse
from services.service_desk import events
from services.service_desk.domain import sla, tickets
from services.service_desk.domain.calendar import BusinessCalendar, parse_periods
from services.service_desk.models import (
    CalendarDay,
    SlaAlert,
    SlaPolicy,
    Ticket,
    TicketComment,
    TicketSequence,
)
from services.service_desk.schemas import (
    CalendarDayInput,
    SlaPolicyInput,
    TicketCreate,
    TicketRating,
)
from services.service_desk.schemas import (
    TicketComment as CommentInput,
)

log = logging.getLogger(__name__)

OPENERS = ("admin", "manager", "sales", "service")
HANDLERS = ("admin", "manager", "service")  # work on tickets: assign, start, resolve, ...
DEFAULT_HOURS = "09:00-12:00,13:00-18:00"
ANY_CATEGORY = "*"


def reopen_days() -> int:
    return int(os.environ.get("TICKET_REOPEN_DAYS", "7"))


def business_calendar(session) -> BusinessCalendar:
    """The calendar: ``SLA_BUSINESS_HOURS`` (default 09:00-12:00,13:00-18:00, Mon–Fri) in
    ``CRM_TIMEZONE``, with the holidays and make-up working days kept in the store."""
    rows = session.execute(sa.select(CalendarDay.day, CalendarDay.kind)).all()
    return BusinessCalendar(
        tz=timeutil.business_tz(),
        periods=parse_periods(os.environ.get("SLA_BUSINESS_HOURS") or DEFAULT_HOURS),
        holidays=frozenset(d for d, kind in rows if kind == "holiday"),
        workdays=frozenset(d for d, kind in rows if kind == "workday"))


def policy_overrides(session) -> dict:
    return {(p.priority, None if p.category == ANY_CATEGORY else p.category):
            sla.Policy(p.first_response_minutes, p.resolution_minutes)
            for p in session.execute(sa.select(SlaPolicy)).scalars()}


def dump_ticket(t: Ticket) -> dict:
    return {
        "id": t.id, "number": t.number, "customer_id": t.customer_id,
        "contact_id": t.contact_id, "title": t.title, "description": t.description,
        "channel": t.channel, "category": t.category, "priority": t.priority,
        "status": t.status, "owner_id": t.owner_id, "team_id": t.team_id,
        "assignee_id": t.assignee_id, "manager_id": t.manager_id,
        "first_response_due": timeutil.iso(t.first_response_due),
        "resolution_due": timeutil.iso(t.resolution_due),
        "first_response_warn_at": timeutil.iso(t.first_response_warn_at),
        "resolution_warn_at": timeutil.iso(t.resolution_warn_at),
        "first_responded_at": timeutil.iso(t.first_responded_at),
        "waiting_since": timeutil.iso(t.waiting_since),
        "paused_minutes": t.paused_minutes or 0,
        "resolved_at": timeutil.iso(t.resolved_at), "closed_at": timeutil.iso(t.closed_at),
        "reopened_count": t.reopened_count or 0,
        "satisfaction_score": t.satisfaction_score,
        "satisfaction_comment": t.satisfaction_comment, "rated_at": timeutil.iso(t.rated_at),
        "created_at": timeutil.iso(t.created_at), "updated_at": timeutil.iso(t.updated_at),
    }


def dump_comment(c: TicketComment) -> dict:
    return {"id": c.id, "ticket_id": c.ticket_id, "author_id": c.author_id, "body": c.body,
            "internal": c.internal, "created_at": timeutil.iso(c.created_at)}


def _may_see_user(principal: Principal, user_id: str) -> bool:
    return principal.can_see_owner(user_id) or user_id == principal.user_id


def _visible(principal: Principal):
    """SQL condition: tickets the caller owns or is assigned, or whose owner or assignee
    is in the caller's scope."""
    return visible(principal, Ticket.owner_id, Ticket.assignee_id)


def _load(uow: UnitOfWork, principal: Principal, ticket_id: str, lock: bool = False) -> Ticket:
    query = sa.select(Ticket).where(Ticket.id == str(ticket_id), _visible(principal))
    if lock:
        query = query.with_for_update()
    ticket = uow.session.execute(query).scalar_one_or_none()
    if ticket is None:
        raise NotFound("ticket_not_found", "ticket not found", {"ticket_id": ticket_id})
    return ticket


def next_number(session, year: int) -> str:
    """Take the year's next ticket number in the caller's transaction (crmkit.sequences)."""
    value = next_value(session, TicketSequence, TicketSequence.year, TicketSequence.last_value,
                       year)
    return tickets.ticket_number(year, value)


def _open_counts(session, candidates: list[str]) -> dict[str, int]:
    rows = session.execute(
        sa.select(Ticket.assignee_id, sa.func.count())
        .where(Ticket.assignee_id.in_(candidates), Ticket.status.in_(tickets.OPEN_STATUSES))
        .group_by(Ticket.assignee_id)).all()
    return {assignee: count for assignee, count in rows}


def _pick(session, candidates) -> str:
    if not isinstance(candidates, list | tuple) or not all(isinstance(c, str)
                                                          for c in candidates):
        raise ValidationFailed("validation_error", "candidates must be a list of user ids")
    chosen = tickets.least_loaded(list(candidates), _open_counts(session, list(candidates)))
    if chosen is None:
        raise ValidationFailed("no_candidates", "no active service staff to assign the ticket to",
                               [{"field": "assignee_id", "message": "nobody to assign"}])
    return chosen


def _manager(assignee: str | None, manager_id, managers) -> str | None:
    if assignee is None:
        return None
    if isinstance(managers, dict) and assignee in managers:
        return managers[assignee]
    return manager_id if isinstance(manager_id, str) else None


def create_ticket(uow: UnitOfWork, principal: Principal, data: dict, candidates=None,
                  manager_id=None, managers=None) -> dict:
    """Open a ticket; ``candidates`` (active service staff, from the gateway) assign it
    automatically to the least loaded one when no ``assignee_id`` is given. ``manager_id``
    (or ``managers`` per candidate) is the assignee's manager, told about SLA alerts."""
    principal.require_role(*OPENERS)
    if principal.user_id is None:
        raise Forbidden("forbidden", "a ticket needs a user as its owner")
    spec = parse(TicketCreate, data)
    if spec.assignee_id and not _may_see_user(principal, spec.assignee_id):
        raise ValidationFailed("unknown_assignee", "the assignee is not a user you may assign",
                               [{"field": "assignee_id", "message": "unknown or not visible"}])
    session, now = uow.session, timeutil.now()
    assignee = spec.assignee_id
    if assignee is None and candidates:
        assignee = _pick(session, candidates)
    policy = sla.policy_for(spec.priority, spec.category, policy_overrides(session))
    due = sla.deadlines(policy, now, business_calendar(session))
    ticket = Ticket(number=next_number(session, timeutil.business_day(now).year),
                    customer_id=spec.customer_id, contact_id=spec.contact_id, title=spec.title,
                    description=spec.description, channel=spec.channel,
                    category=spec.category, priority=spec.priority, status=tickets.NEW_STATUS,
                    owner_id=principal.user_id, team_id=principal.team_id,
                    assignee_id=assignee, manager_id=_manager(assignee, manager_id, managers),
                    first_response_due=due.first_response_due,
                    first_response_warn_at=due.first_response_warn_at,
                    resolution_due=due.resolution_due,
                    resolution_warn_at=due.resolution_warn_at, paused_minutes=0,
                    reopened_count=0, created_at=now, updated_at=now)
    session.add(ticket)
    session.flush()
    uow.emit(events.TICKET_CREATED, events.ticket_summary(ticket))
    return dump_ticket(ticket)


def list_tickets(uow: UnitOfWork, principal: Principal, customer_id=None, status=None,
                 cursor=None, limit=None, assignee_id=None) -> dict:
    query = sa.select(Ticket).where(_visible(principal))
    if customer_id:
        query = query.where(Ticket.customer_id == str(customer_id))
    if assignee_id:
        query = query.where(Ticket.assignee_id == str(assignee_id))
    if status:
        query = query.where(Ticket.status == choice(status, tickets.STATUSES, "status"))
    return paginate(uow.session, query, Ticket.id, cursor, page_limit(limit), dump_ticket)


def get_ticket(uow: UnitOfWork, principal: Principal, ticket_id: str) -> dict:
    return dump_ticket(_load(uow, principal, ticket_id))


def assign_ticket(uow: UnitOfWork, principal: Principal, ticket_id: str, assignee_id=None,
                  candidates=None, manager_id=None, managers=None) -> dict:
    """Manual (``assignee_id``) or automatic (``candidates``) assignment of an unfinished
    ticket; ``manager_id`` is the assignee's manager, told about SLA alerts."""
    principal.require_role(*HANDLERS)
    ticket = _load(uow, principal, ticket_id, lock=True)
    if ticket.status in ("resolved", "closed"):
        raise Conflict("invalid_transition", f"a {ticket.status} ticket cannot be assigned",
                       {"status": ticket.status})
    if assignee_id:
        if not isinstance(assignee_id, str) or not _may_see_user(principal, assignee_id):
            raise ValidationFailed("unknown_assignee",
                                   "the assignee is not a user you may assign",
                                   [{"field": "assignee_id", "message": "unknown or not visible"}])
        chosen = assignee_id
    elif candidates:
        chosen = _pick(uow.session, candidates)
    else:
        raise ValidationFailed("validation_error", "give assignee_id or ask for auto-assignment",
                               [{"field": "assignee_id", "message": "required"}])
    previous = ticket.assignee_id
    ticket.assignee_id = chosen
    ticket.manager_id = _manager(chosen, manager_id, managers)
    ticket.updated_at = timeutil.now()
    uow.session.flush()
    uow.emit(events.TICKET_ASSIGNED, {**events.ticket_summary(ticket),
                                      "previous_assignee_id": previous,
                                      "automatic": not assignee_id})
    return dump_ticket(ticket)


def add_comment(uow: UnitOfWork, principal: Principal, ticket_id: str, data: dict) -> dict:
    """A comment, internal (staff only) or customer-visible; the first customer-visible
    comment counts as the first response."""
    principal.require_role(*OPENERS)
    spec = parse(CommentInput, data)
    ticket = _load(uow, principal, ticket_id, lock=True)
    if ticket.status == "closed":
        raise Conflict("ticket_closed", "a closed ticket takes no more comments")
    now = timeutil.now()
    comment = TicketComment(ticket_id=ticket.id, author_id=principal.user_id, body=spec.body,
                            internal=spec.internal, created_at=now)
    uow.session.add(comment)
    if not spec.internal and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.updated_at = now
    uow.session.flush()
    uow.emit(events.TICKET_COMMENTED, {**events.ticket_summary(ticket),
                                       "comment_id": comment.id, "author_id": comment.author_id,
                                       "internal": comment.internal})
    return dump_comment(comment)


def list_comments(uow: UnitOfWork, principal: Principal, ticket_id: str,
                  internal: bool | None = None) -> dict:
    ticket = _load(uow, principal, ticket_id)
    query = sa.select(TicketComment).where(TicketComment.ticket_id == ticket.id)
    if internal is not None:
        query = query.where(TicketComment.internal.is_(bool(internal)))
    rows = uow.session.execute(query.order_by(TicketComment.id)).scalars().all()
    return {"items": [dump_comment(c) for c in rows]}


def transition(uow: UnitOfWork, principal: Principal, ticket_id: str, action: str) -> dict:
    """start / wait / resume / resolve / close / reopen (domain/tickets.py)."""
    principal.require_role(*(OPENERS if action == "reopen" else HANDLERS))
    ticket = _load(uow, principal, ticket_id, lock=True)
    target = tickets.next_status(ticket.status, action)
    if target is None:
        raise Conflict("invalid_transition", f"cannot {action} a ticket that is {ticket.status}",
                       {"status": ticket.status, "action": action})
    session, now = uow.session, timeutil.now()
    extra: dict = {}
    if action == "start":
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
        if ticket.assignee_id is None and principal.user_id:
            ticket.assignee_id = principal.user_id
    elif action == "wait":
        ticket.waiting_since = now
    elif action == "resume":
        calendar = business_calendar(session)
        paused_from = ticket.waiting_since or now
        paused = calendar.between(paused_from, now)
        def moved(moment):
            return None if moment is None else calendar.resume(moment, paused_from, now)

        if ticket.first_responded_at is None:
            ticket.first_response_due = moved(ticket.first_response_due)
            ticket.first_response_warn_at = moved(ticket.first_response_warn_at)
        ticket.resolution_due = moved(ticket.resolution_due)
        ticket.resolution_warn_at = moved(ticket.resolution_warn_at)
        ticket.paused_minutes = (ticket.paused_minutes or 0) + int(
            paused / timedelta(minutes=1))
        ticket.waiting_since = None
        extra["paused_business_minutes"] = int(paused / timedelta(minutes=1))
    elif action == "resolve":
        ticket.resolved_at = now
    elif action == "close":
        ticket.closed_at = now
    elif action == "reopen":
        days = reopen_days()
        if not tickets.may_reopen(ticket.resolved_at, now, days):
            raise Conflict("reopen_window_passed",
                           f"a ticket can be reopened within {days} days of its resolution",
                           {"resolved_at": timeutil.iso(ticket.resolved_at),
                            "reopen_days": days})
        ticket.reopened_count = (ticket.reopened_count or 0) + 1
        ticket.resolved_at = ticket.closed_at = None
    previous = ticket.status
    ticket.status, ticket.updated_at = target, now
    session.flush()
    uow.emit(events.TICKET_ACTIONS[action], {**events.ticket_summary(ticket),
                                             "previous_status": previous, **extra})
    return dump_ticket(ticket)


def rate_ticket(uow: UnitOfWork, principal: Principal, ticket_id: str, data: dict) -> dict:
    """客户满意度: a score 1–5 (and a comment) once the ticket is closed, once."""
    principal.require_role(*OPENERS)
    spec = parse(TicketRating, data)
    ticket = _load(uow, principal, ticket_id, lock=True)
    if ticket.status != "closed":
        raise Conflict("ticket_not_closed", "only a closed ticket can be rated",
                       {"status": ticket.status})
    if ticket.rated_at is not None:
        raise Conflict("already_rated", "this ticket was already rated")
    now = timeutil.now()
    ticket.satisfaction_score, ticket.satisfaction_comment = spec.score, spec.comment
    ticket.rated_at = ticket.updated_at = now
    uow.session.flush()
    uow.emit(events.TICKET_RATED, {**events.ticket_summary(ticket), "score": spec.score,
                                   "comment": spec.comment})
    return dump_ticket(ticket)


# --- SLA job -------------------------------------------------------------------------------

def _alert_candidates(session, now: datetime) -> list[tuple[str, str, str]]:
    """(ticket_id, target, level) whose moment has come and that were not raised yet."""
    found: list[tuple[str, str, str]] = []
    running = Ticket.status.in_(("open", "in_progress", "reopened"))
    specs = (("first_response", Ticket.first_response_warn_at, Ticket.first_response_due,
              Ticket.first_responded_at.is_(None)),
             ("resolution", Ticket.resolution_warn_at, Ticket.resolution_due, sa.true()))
    for target, warn_col, due_col, pending in specs:
        rows = session.execute(
            sa.select(Ticket.id, warn_col, due_col)
            .where(running, pending, sa.or_(warn_col <= now, due_col <= now))
            .order_by(Ticket.id)).all()
        for ticket_id, warn_at, due in rows:
            for level in sla.alerts_due(now, timeutil.aware(warn_at), timeutil.aware(due)):
                found.append((ticket_id, target, level))
    if not found:
        return []
    raised = {(a.ticket_id, a.target, a.level) for a in session.execute(
        sa.select(SlaAlert).where(SlaAlert.ticket_id.in_({f[0] for f in found}))).scalars()}
    return [f for f in found if f not in raised]


def _still_due(ticket: Ticket | None, target: str, level: str, now: datetime) -> bool:
    if ticket is None or ticket.status not in ("open", "in_progress", "reopened"):
        return False
    if target == "first_response":
        if ticket.first_responded_at is not None:
            return False
        warn_at, due = ticket.first_response_warn_at, ticket.first_response_due
    else:
        warn_at, due = ticket.resolution_warn_at, ticket.resolution_due
    return level in sla.alerts_due(now, timeutil.aware(warn_at), timeutil.aware(due))


def check_sla(unit, now: datetime | None = None) -> int:
    """The periodic job: raise ``ticket.sla_warning`` / ``ticket.sla_breached`` once per
    ticket, target and level. ``unit`` makes a unit of work; each alert commits on its own
    with its ``sla_alerts`` row, whose primary key lets only one of several concurrent runs
    (replicas) raise it. Returns how many alerts this run raised."""
    now = now or timeutil.now()
    with unit() as uow:
        candidates = _alert_candidates(uow.session, now)
    raised = 0
    for ticket_id, target, level in candidates:
        try:
            with unit() as uow:
                ticket = uow.session.get(Ticket, ticket_id)
                if not _still_due(ticket, target, level, now):
                    continue  # started, answered or paused since the candidates were read
                uow.session.add(SlaAlert(ticket_id=ticket_id, target=target, level=level,
                                         raised_at=now))
                uow.session.flush()
                due = ticket.first_response_due if target == "first_response" \
                    else ticket.resolution_due
                data = {**events.ticket_summary(ticket), "target": target, "level": level,
                        "due_at": timeutil.iso(due), "raised_at": timeutil.iso(now)}
                uow.emit(events.TICKET_SLA_BREACHED if level == "breached"
                         else events.TICKET_SLA_WARNING, data)
                if ticket.manager_id and ticket.manager_id != ticket.assignee_id:
                    uow.emit(events.TICKET_SLA_ESCALATED, data)
            raised += 1
        except IntegrityError:
            log.info("SLA alert already raised by another run",
                     extra={"ticket_id": ticket_id, "target": target, "level": level})
    return raised


# --- SLA policies and the business calendar (admin) ----------------------------------------

def _dump_policy(priority: str, category: str | None, policy: sla.Policy,
                 source: str) -> dict:
    return {"priority": priority, "category": category,
            "first_response_minutes": policy.first_response_minutes,
            "resolution_minutes": policy.resolution_minutes, "source": source}


def list_sla_policies(uow: UnitOfWork, principal: Principal) -> dict:
    overrides = policy_overrides(uow.session)
    items = [_dump_policy(p, None, overrides.get((p, None), level),
                          "store" if (p, None) in overrides else "default")
             for p, level in sla.DEFAULT_POLICIES.items()]
    items += [_dump_policy(p, c, level, "store") for (p, c), level in sorted(
        overrides.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")) if c is not None]
    return {"items": items}


def set_sla_policy(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role("admin")
    spec = parse(SlaPolicyInput, data)
    try:
        policy = sla.Policy(spec.first_response_minutes, spec.resolution_minutes)
    except ValueError as exc:
        raise ValidationFailed("invalid_policy", str(exc),
                               [{"field": "first_response_minutes", "message": str(exc)}]) \
            from None
    key = (spec.priority, spec.category or ANY_CATEGORY)
    row = uow.session.get(SlaPolicy, key)
    if row is None:
        row = SlaPolicy(priority=key[0], category=key[1])
        uow.session.add(row)
    row.first_response_minutes = policy.first_response_minutes
    row.resolution_minutes = policy.resolution_minutes
    row.updated_at = timeutil.now()
    uow.session.flush()
    result = _dump_policy(spec.priority, spec.category, policy, "store")
    uow.emit("sla.policy_changed", result)
    return result


def _dump_day(d: CalendarDay) -> dict:
    return {"date": d.day.isoformat(), "kind": d.kind, "name": d.name}


def list_calendar_days(uow: UnitOfWork, principal: Principal, year=None) -> dict:
    query = sa.select(CalendarDay).order_by(CalendarDay.day)
    if year not in (None, ""):
        try:
            y = int(year)
        except (TypeError, ValueError):
            raise ValidationFailed("validation_error", "year must be an integer",
                                   [{"field": "year", "message": "not an integer"}]) from None
        query = query.where(CalendarDay.day >= date(y, 1, 1), CalendarDay.day <= date(y, 12, 31))
    return {"items": [_dump_day(d) for d in uow.session.execute(query).scalars()]}


def set_calendar_days(uow: UnitOfWork, principal: Principal, days) -> dict:
    """Add or replace holidays (节假日) and make-up working days (调休), e.g. for 国庆节."""
    principal.require_role("admin")
    if not isinstance(days, list) or not days or len(days) > 400:
        raise ValidationFailed("validation_error", "days must be a list of 1 to 400 days",
                               [{"field": "days", "message": "1 to 400 items"}])
    specs = [parse(CalendarDayInput, d) for d in days]
    if len({s.date for s in specs}) != len(specs):
        raise ValidationFailed("validation_error", "a date is listed twice",
                               [{"field": "days", "message": "duplicate date"}])
    now = timeutil.now()
    for spec in specs:
        row = uow.session.get(CalendarDay, spec.date)
        if row is None:
            row = CalendarDay(day=spec.date)
            uow.session.add(row)
        row.kind, row.name, row.updated_at = spec.kind, spec.name, now
    uow.session.flush()
    items = [{"date": s.date.isoformat(), "kind": s.kind, "name": s.name} for s in specs]
    uow.emit("calendar.days_set", {"days": items})
    return {"items": items}


def delete_calendar_day(uow: UnitOfWork, principal: Principal, day) -> dict:
    principal.require_role("admin")
    try:
        value = date.fromisoformat(str(day))
    except ValueError:
        raise ValidationFailed("validation_error", "date must be YYYY-MM-DD",
                               [{"field": "date", "message": "not a date"}]) from None
    row = uow.session.get(CalendarDay, value)
    if row is None:
        raise NotFound("calendar_day_not_found", "no such holiday or working day",
                       {"date": value.isoformat()})
    uow.session.delete(row)
    uow.emit("calendar.day_removed", {"date": value.isoformat(), "kind": row.kind})
    return {"date": value.isoformat(), "deleted": True}
