"""Use cases: follow-up records (跟进记录), plans (跟进计划 / 拜访计划), the sales calendar
(销售日历) and the reminder job (智能提醒).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import Conflict, NotFound, ValidationFailed
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.customers import events
from services.customers.domain import rules
from services.customers.handlers import (
    JOB_BATCH,
    MANAGERS,
    MAX_CALENDAR_DAYS,
    _load,
    _record,
    _require_writer,
    _touch,
    dump_follow_up,
    dump_plan,
    reminder_lead_minutes,
)
from services.customers.models import (
    Customer,
    FollowUp,
    FollowUpPlan,
)
from services.customers.schemas import (
    FollowUpCreate,
    PlanCreate,
    PlanStatusChange,
)

log = logging.getLogger(__name__)


# -- follow-ups (跟进记录) and plans (跟进计划 / 拜访计划) ----------

def add_follow_up(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    spec = parse(FollowUpCreate, data)
    now = timeutil.now()
    happened = timeutil.aware(spec.happened_at) or now
    if happened > now + timedelta(minutes=5):
        raise ValidationFailed("validation_error", "a follow-up cannot happen in the future",
                               [{"field": "happened_at", "message": "in the future"}])
    customer = _load(uow, principal, customer_id, lock=True)
    _require_writer(principal, customer)
    record = FollowUp(customer_id=customer.id, author_id=principal.user_id, kind=spec.kind,
                      content=spec.content, happened_at=happened, created_at=now)
    uow.session.add(record)
    before = customer.last_contact_at
    if before is None or happened > before:
        customer.last_contact_at = happened
    _touch(customer, now)
    uow.session.flush()
    _record(uow, customer.id, "followed_up", "last_contact_at", before,
            customer.last_contact_at, note=spec.kind)
    uow.emit(events.CUSTOMER_FOLLOWED_UP, {**events.customer_summary(customer),
                                           "follow_up_id": record.id, "kind": record.kind,
                                           "happened_at": timeutil.iso(happened)})
    return dump_follow_up(record)


def list_follow_ups(uow: UnitOfWork, principal: Principal, customer_id: str, cursor=None,
                    limit=None) -> dict:
    customer = _load(uow, principal, customer_id)
    query = sa.select(FollowUp).where(FollowUp.customer_id == customer.id)
    return paginate(uow.session, query, FollowUp.id, cursor, page_limit(limit), dump_follow_up)


def _refresh_next_follow_up(uow: UnitOfWork, customer: Customer) -> None:
    uow.session.flush()
    customer.next_follow_up_at = uow.session.execute(
        sa.select(sa.func.min(FollowUpPlan.scheduled_at)).where(
            FollowUpPlan.customer_id == customer.id,
            FollowUpPlan.status == "planned")).scalar()
    if customer.next_follow_up_at is not None:
        customer.next_follow_up_at = timeutil.aware(customer.next_follow_up_at)


def _plan_event(plan: FollowUpPlan, customer: Customer) -> dict:
    return {"plan_id": plan.id, "customer_id": customer.id, "owner_id": plan.owner_id,
            "customer_owner_id": customer.owner_id, "kind": plan.kind, "subject": plan.subject,
            "scheduled_at": timeutil.iso(plan.scheduled_at), "status": plan.status,
            "customer_name": customer.name}


def create_plan(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    spec = parse(PlanCreate, data)
    now = timeutil.now()
    scheduled = timeutil.aware(spec.scheduled_at)
    if scheduled < now - timedelta(minutes=5):
        raise ValidationFailed("validation_error", "a plan is scheduled in the future",
                               [{"field": "scheduled_at", "message": "in the past"}])
    customer = _load(uow, principal, customer_id, lock=True)
    _require_writer(principal, customer)
    plan = FollowUpPlan(customer_id=customer.id, owner_id=principal.user_id, kind=spec.kind,
                        subject=spec.subject, notes=spec.notes, scheduled_at=scheduled,
                        status="planned", created_at=now, updated_at=now)
    uow.session.add(plan)
    _refresh_next_follow_up(uow, customer)
    _touch(customer, now)
    _record(uow, customer.id, "plan_created", "follow_up_plan", None, spec.subject,
            note=timeutil.iso(scheduled))
    uow.emit(events.PLAN_CREATED, _plan_event(plan, customer))
    return dump_plan(plan)


def list_plans(uow: UnitOfWork, principal: Principal, customer_id: str, status=None,
               cursor=None, limit=None) -> dict:
    customer = _load(uow, principal, customer_id)
    query = sa.select(FollowUpPlan).where(FollowUpPlan.customer_id == customer.id)
    if status:
        if status not in rules.PLAN_STATUSES:
            raise ValidationFailed("validation_error", "unknown plan status",
                                   [{"field": "status", "message": "planned, done or cancelled"}])
        query = query.where(FollowUpPlan.status == status)
    return paginate(uow.session, query, FollowUpPlan.id, cursor, page_limit(limit), dump_plan)


def change_plan_status(uow: UnitOfWork, principal: Principal, customer_id: str, plan_id: str,
                       data: dict) -> dict:
    spec = parse(PlanStatusChange, data)
    customer = _load(uow, principal, customer_id, lock=True)
    plan = uow.session.execute(sa.select(FollowUpPlan).where(
        FollowUpPlan.id == str(plan_id), FollowUpPlan.customer_id == customer.id)
        .with_for_update()).scalar_one_or_none()
    if plan is None:
        raise NotFound("plan_not_found", "follow-up plan not found", {"plan_id": plan_id})
    if plan.owner_id != principal.user_id:
        principal.require_role(*MANAGERS)
    if plan.status != "planned":
        raise Conflict("plan_closed", f"the plan is already {plan.status}",
                       {"status": plan.status})
    plan.status = spec.status
    plan.updated_at = timeutil.now()
    _refresh_next_follow_up(uow, customer)
    _touch(customer)
    _record(uow, customer.id, f"plan_{spec.status}", "follow_up_plan", "planned", spec.status,
            note=plan.subject)
    uow.emit(events.PLAN_DONE if spec.status == "done" else events.PLAN_CANCELLED,
             _plan_event(plan, customer))
    return dump_plan(plan)


def _parse_day(value, field: str) -> date:
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("validation_error", f"{field} must be a date (YYYY-MM-DD)",
                               [{"field": field, "message": "not a date"}]) from None


def calendar(uow: UnitOfWork, principal: Principal, start, end) -> dict:
    """销售日历: the caller's planned visits from ``start`` to ``end`` (dates, inclusive, in the
    business time zone), grouped by day."""
    first, last = _parse_day(start, "start"), _parse_day(end, "end")
    if last < first:
        raise ValidationFailed("validation_error", "end is before start",
                               [{"field": "end", "message": "before start"}])
    if (last - first).days >= MAX_CALENDAR_DAYS:
        raise ValidationFailed("validation_error",
                               f"at most {MAX_CALENDAR_DAYS} days at a time",
                               [{"field": "end", "message": "range too long"}])
    tz = timeutil.business_tz()
    since = datetime.combine(first, time.min, tz).astimezone(timeutil.UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(timeutil.UTC)
    rows = uow.session.execute(
        sa.select(FollowUpPlan, Customer.name).join(Customer,
                                                    Customer.id == FollowUpPlan.customer_id)
        .where(FollowUpPlan.owner_id == principal.user_id, FollowUpPlan.status == "planned",
               FollowUpPlan.scheduled_at >= since, FollowUpPlan.scheduled_at < until)
        .order_by(FollowUpPlan.scheduled_at, FollowUpPlan.id)).all()
    days: dict[str, list] = {}
    for plan, name in rows:
        day = timeutil.business_day(timeutil.aware(plan.scheduled_at)).isoformat()
        days.setdefault(day, []).append(dump_plan(plan, name))
    return {"start": first.isoformat(), "end": last.isoformat(), "timezone": tz.key,
            "days": [{"date": d, "plans": plans} for d, plans in days.items()]}


def remind_due_plans(uow: UnitOfWork, lead_minutes: int | None = None) -> int:
    """智能提醒: each planned visit due within ``REMINDER_LEAD_MINUTES`` is reminded exactly once.

    Safe with several replicas: candidates are read with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL)
    and each is claimed by a conditional UPDATE (``reminded_at IS NULL``); only the runner whose
    UPDATE changed the row emits ``follow_up_plan.due``.
    """
    now = timeutil.now()
    minutes = reminder_lead_minutes() if lead_minutes is None else lead_minutes
    horizon = now + timedelta(minutes=minutes)
    candidates = uow.session.execute(
        sa.select(FollowUpPlan).where(FollowUpPlan.status == "planned",
                                      FollowUpPlan.reminded_at.is_(None),
                                      FollowUpPlan.scheduled_at <= horizon)
        .order_by(FollowUpPlan.scheduled_at).limit(JOB_BATCH)
        .with_for_update(skip_locked=True)).scalars().all()
    sent = 0
    for plan in candidates:
        if not rules.reminder_due(status=plan.status, reminded=False,
                                  scheduled_at=timeutil.aware(plan.scheduled_at), now=now,
                                  lead_minutes=minutes):
            continue
        won = uow.session.execute(
            sa.update(FollowUpPlan).where(FollowUpPlan.id == plan.id,
                                          FollowUpPlan.reminded_at.is_(None),
                                          FollowUpPlan.status == "planned")
            .values(reminded_at=now).execution_options(synchronize_session=False)).rowcount
        if won != 1:
            continue
        customer = uow.session.get(Customer, plan.customer_id)
        uow.emit(events.PLAN_DUE, {
            "plan_id": plan.id, "customer_id": plan.customer_id, "owner_id": plan.owner_id,
            "scheduled_at": timeutil.iso(plan.scheduled_at), "subject": plan.subject,
            "kind": plan.kind, "customer_name": customer.name if customer else None})
        sent += 1
    return sent
