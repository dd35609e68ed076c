"""Use cases of service work orders (服务工单), the engineer's calendar, and the reaction to
customer merges (every record of the service desk)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.uow import UnitOfWork
from crmkit.validation import choice, page_limit, parse
from services.service_desk import events
from services.service_desk.domain import work_orders as rules
from services.service_desk.handlers_returns import next_document_number
from services.service_desk.models import Contract, Return, Ticket, WorkOrder
from services.service_desk.schemas import WorkOrderComplete, WorkOrderCreate

PLANNERS = ("admin", "manager", "sales", "service")
MAX_CALENDAR_DAYS = 62


def dump_work_order(w: WorkOrder) -> dict:
    return {
        "id": w.id, "number": w.number, "customer_id": w.customer_id,
        "contract_id": w.contract_id, "kind": w.kind, "status": w.status,
        "scheduled_at": timeutil.iso(w.scheduled_at),
        "business_day": timeutil.business_day(w.scheduled_at).isoformat(),
        "assignee_id": w.assignee_id, "owner_id": w.owner_id, "team_id": w.team_id,
        "address": w.address, "notes": w.notes,
        "workload_hours": None if w.workload_hours is None else f"{w.workload_hours:.2f}",
        "result": w.result, "started_at": timeutil.iso(w.started_at),
        "completed_at": timeutil.iso(w.completed_at),
        "cancelled_at": timeutil.iso(w.cancelled_at),
        "created_at": timeutil.iso(w.created_at), "updated_at": timeutil.iso(w.updated_at),
    }


def _visible(principal: Principal):
    return visible(principal, WorkOrder.owner_id, WorkOrder.assignee_id)


def _load(uow: UnitOfWork, principal: Principal, work_order_id: str,
          lock: bool = False) -> WorkOrder:
    query = sa.select(WorkOrder).where(WorkOrder.id == str(work_order_id), _visible(principal))
    if lock:
        query = query.with_for_update()
    order = uow.session.execute(query).scalar_one_or_none()
    if order is None:
        raise NotFound("work_order_not_found", "work order not found",
                       {"work_order_id": work_order_id})
    return order


def create_work_order(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*PLANNERS)
    if principal.user_id is None:
        raise Forbidden("forbidden", "a work order needs a user as its owner")
    spec = parse(WorkOrderCreate, data)
    if not (principal.can_see_owner(spec.assignee_id) or spec.assignee_id == principal.user_id):
        raise ValidationFailed("unknown_assignee", "the assignee is not a user you may assign",
                               [{"field": "assignee_id", "message": "unknown or not visible"}])
    session, now = uow.session, timeutil.now()
    if spec.contract_id:
        contract = session.get(Contract, spec.contract_id)
        if contract is None:
            raise ValidationFailed("unknown_contract", "no signed contract with this id",
                                   [{"field": "contract_id", "message": "unknown or not signed"}])
        if contract.customer_id != spec.customer_id:
            raise ValidationFailed("contract_customer_mismatch",
                                   "the contract belongs to another customer",
                                   [{"field": "customer_id", "message": "not the contract's"}])
    order = WorkOrder(number=next_document_number(session, rules.NUMBER_PREFIX),
                      customer_id=spec.customer_id, contract_id=spec.contract_id, kind=spec.kind,
                      status="scheduled", scheduled_at=spec.scheduled_at.astimezone(timeutil.UTC),
                      assignee_id=spec.assignee_id, owner_id=principal.user_id,
                      team_id=principal.team_id, address=spec.address, notes=spec.notes,
                      created_at=now, updated_at=now)
    session.add(order)
    session.flush()
    uow.emit(events.WORK_ORDER_EVENTS["create"], events.work_order_summary(order))
    return dump_work_order(order)


def act_on_work_order(uow: UnitOfWork, principal: Principal, work_order_id: str, action: str,
                      data: dict | None = None) -> dict:
    """start / complete {workload_hours, result} / cancel."""
    if action not in rules.TRANSITIONS:
        raise ValidationFailed("validation_error", f"unknown action {action!r}")
    principal.require_role(*PLANNERS)
    spec = parse(WorkOrderComplete, data or {}) if action == "complete" else None
    order = _load(uow, principal, work_order_id, lock=True)
    target = rules.next_status(order.status, action)
    if target is None:
        raise Conflict("invalid_transition",
                       f"cannot {action} a work order that is {order.status}",
                       {"status": order.status, "action": action})
    now = timeutil.now()
    extra: dict = {}
    if action == "start":
        order.started_at = now
    elif action == "complete":
        order.workload_hours, order.result, order.completed_at = (spec.workload_hours,
                                                                  spec.result, now)
        extra = {"workload_hours": f"{spec.workload_hours:.2f}", "result": spec.result}
    else:
        order.cancelled_at = now
    order.status, order.updated_at = target, now
    uow.session.flush()
    uow.emit(events.WORK_ORDER_EVENTS[action], {**events.work_order_summary(order), **extra})
    return dump_work_order(order)


def get_work_order(uow: UnitOfWork, principal: Principal, work_order_id: str) -> dict:
    return dump_work_order(_load(uow, principal, work_order_id))


def _bound(value, field: str) -> datetime | None:
    """``start``/``end`` filters: an ISO 8601 time with offset, or a date (start of that
    business day in CRM_TIMEZONE)."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, datetime.min.time(), timeutil.business_tz()) \
                .astimezone(timeutil.UTC)
        return timeutil.parse_time(value)
    except ValueError:
        raise ValidationFailed("validation_error",
                               f"{field} must be a date or an ISO 8601 time with offset",
                               [{"field": field, "message": "not a date or time"}]) from None


def list_work_orders(uow: UnitOfWork, principal: Principal, customer_id=None, assignee_id=None,
                     start=None, end=None, status=None, cursor=None, limit=None) -> dict:
    query = sa.select(WorkOrder).where(_visible(principal))
    if customer_id:
        query = query.where(WorkOrder.customer_id == str(customer_id))
    if assignee_id:
        query = query.where(WorkOrder.assignee_id == str(assignee_id))
    lo, hi = _bound(start, "start"), _bound(end, "end")
    if lo is not None:
        query = query.where(WorkOrder.scheduled_at >= lo)
    if hi is not None:
        query = query.where(WorkOrder.scheduled_at < hi)
    if status:
        query = query.where(WorkOrder.status == choice(status, rules.STATUSES, "status"))
    return paginate(uow.session, query, WorkOrder.id, cursor, page_limit(limit),
                    dump_work_order)


def calendar(uow: UnitOfWork, principal: Principal, start, end) -> dict:
    """The caller's work orders from business day ``start`` to ``end`` (dates, inclusive),
    grouped by business day: ``{start, end, days: [{date, items}]}``."""
    try:
        first, last = date.fromisoformat(str(start)), date.fromisoformat(str(end))
    except ValueError:
        raise ValidationFailed("validation_error", "start and end must be dates (YYYY-MM-DD)",
                               [{"field": "start", "message": "not a date"}]) from None
    if last < first or (last - first).days >= MAX_CALENDAR_DAYS:
        raise ValidationFailed("validation_error",
                               f"end must be on or after start, at most {MAX_CALENDAR_DAYS} "
                               "days later", [{"field": "end", "message": "out of range"}])
    if principal.user_id is None:
        raise Forbidden("forbidden", "the calendar is a user's own")
    tz = timeutil.business_tz()
    lo = datetime.combine(first, datetime.min.time(), tz).astimezone(timeutil.UTC)
    hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz) \
        .astimezone(timeutil.UTC)
    rows = uow.session.execute(sa.select(WorkOrder).where(
        WorkOrder.assignee_id == principal.user_id, WorkOrder.scheduled_at >= lo,
        WorkOrder.scheduled_at < hi).order_by(WorkOrder.scheduled_at)).scalars().all()
    return {"start": first.isoformat(), "end": last.isoformat(),
            "days": rules.by_business_day([dump_work_order(w) for w in rows], tz)}


def repoint_merged_customer(uow: UnitOfWork, event: dict) -> dict:
    """``customer.merged``: the merged customer's tickets, returns, work orders and
    projected contracts now belong to the survivor (idempotent: a second run finds none)."""
    data = event.get("data") or {}
    survivor, merged = data.get("survivor_id"), data.get("merged_id")
    if not survivor or not merged:
        raise ValueError("customer.merged without survivor_id or merged_id")
    session = uow.session
    counts = {}
    for name, model in (("tickets", Ticket), ("returns", Return), ("work_orders", WorkOrder),
                        ("contracts", Contract)):
        result = session.execute(sa.update(model).where(model.customer_id == merged)
                                 .values(customer_id=survivor))
        counts[name] = result.rowcount or 0
    if any(counts.values()):
        uow.emit(events.CUSTOMER_REPOINTED, {"survivor_id": survivor, "merged_id": merged,
                                             **counts})
    return counts
