"""Use cases: customer segments (客户分群) for one-to-one marketing (一对一营销), and the
customer value analytics sends (``customer.value_changed``) that segments filter on.

A segment is a saved ``SegmentFilters`` (see ``schemas``). Members are never stored: counts,
member pages, the export and the preview run the filters live, always inside the reader's
data scope (the customers the reader may see in ``list_customers``: their owners' and the
public pool's, never merged ones). A rep reading a company-wide shared segment counts and
sees only their part of it.

``team_id`` in a filter means "owned by a member of that team or of one of its sub-teams".
Teams and their members belong to the gateway, so the caller resolves them and passes
``team_members = {team_id: [user ids]}`` with every call that evaluates such a segment.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from crmkit import timeutil
from crmkit.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.ids import new_id
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.customers import events
from services.customers.handlers import MANAGERS, _visible, dump_customer
from services.customers.models import Customer, Segment
from services.customers.schemas import (
    SegmentCreate,
    SegmentFilters,
    SegmentUpdate,
    ValueChanged,
)

log = logging.getLogger(__name__)

UNRATED = "unrated"
MAX_COUNTED = 100      # segments counted in one ``count_segments`` call


# -- dumps ----------

def dump_member(c: Customer) -> dict:
    """A customer as segment pages and the export show it: the record with its value."""
    return dump_customer(c)


def dump_segment(s: Segment) -> dict:
    return {"id": s.id, "name": s.name, "description": s.description, "owner_id": s.owner_id,
            "team_id": s.team_id, "shared": bool(s.shared), "filters": dict(s.filters or {}),
            "created_at": timeutil.iso(s.created_at), "updated_at": timeutil.iso(s.updated_at)}


def _summary(s: Segment) -> dict:
    return {"segment_id": s.id, "name": s.name, "owner_id": s.owner_id, "team_id": s.team_id,
            "shared": bool(s.shared), "filters": dict(s.filters or {})}


# -- filters → SQL ----------

def _team_members(filters: dict, team_members) -> list[str] | None:
    team_id = filters.get("team_id")
    if team_id is None:
        return None
    if not isinstance(team_members, dict) or not isinstance(team_members.get(team_id), list):
        raise BadRequest("team_members_required",
                         "the segment filters on a team: pass team_members "
                         "{team_id: [user ids of the team and its sub-teams]}",
                         {"team_id": team_id})
    return [str(u) for u in team_members[team_id]]


def _tags_any(dialect: str, tags: list[str]):
    if dialect == "postgresql":
        return sa.cast(Customer.tags, postgresql.JSONB).has_any(
            postgresql.array(tags, type_=sa.String))
    each = sa.func.json_each(Customer.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value.in_(tags)))


def conditions(filters: dict, dialect: str, team_members=None) -> list:
    """SQL conditions on ``customers`` for stored filters (AND of the keys given; any value
    of a list; ``industry`` / ``region`` compare case-insensitively)."""
    c, out = Customer, []
    if "level" in filters:
        out.append(c.level.in_(filters["level"]))
    if "status" in filters:
        out.append(c.status.in_(filters["status"]))
    for key, column in (("industry", c.industry), ("region", c.region)):
        if key in filters:
            out.append(sa.func.lower(column).in_([v.lower() for v in filters[key]]))
    if "tags" in filters:
        out.append(_tags_any(dialect, filters["tags"]))
    if "owner_ids" in filters:
        out.append(c.owner_id.in_(filters["owner_ids"]))
    members = _team_members(filters, team_members)
    if members is not None:
        out.append(c.owner_id.in_(members) if members else sa.false())
    if "value_tier" in filters:
        tiers = [t for t in filters["value_tier"] if t != UNRATED]
        either = [c.value_tier.in_(tiers)] if tiers else []
        if UNRATED in filters["value_tier"]:
            either.append(c.value_tier.is_(None))
        out.append(sa.or_(*either))
    if "churn_risk" in filters:
        out.append(c.churn_risk.is_(bool(filters["churn_risk"])))
    return out


def _members_query(uow: UnitOfWork, principal: Principal, filters: dict, team_members):
    dialect = uow.session.get_bind().dialect.name
    return sa.select(Customer).where(_visible(principal),
                                     *conditions(filters, dialect, team_members))


def _count(uow: UnitOfWork, principal: Principal, filters: dict, team_members) -> int:
    dialect = uow.session.get_bind().dialect.name
    query = sa.select(sa.func.count()).select_from(Customer).where(
        _visible(principal), *conditions(filters, dialect, team_members))
    return uow.session.execute(query).scalar_one()


def validate_filters(data) -> dict:
    """Stored form of raw filters (422 naming the offending key or value)."""
    if data is not None and not isinstance(data, dict):
        raise ValidationFailed("validation_error", "filters must be an object",
                               [{"field": "filters", "message": "not an object"}])
    return parse(SegmentFilters, data or {}).stored()


# -- segments ----------

def _segment_visible(principal: Principal):
    return sa.or_(Segment.shared.is_(True), visible(principal, Segment.owner_id))


def _load(uow: UnitOfWork, principal: Principal, segment_id, *, lock=False) -> Segment:
    segment_id = str(segment_id or "")
    if not segment_id.isalnum() or not segment_id.isascii():   # never an id: 404, no query
        raise NotFound("segment_not_found", "segment not found", {"segment_id": segment_id})
    query = sa.select(Segment).where(Segment.id == segment_id, _segment_visible(principal))
    if lock:
        query = query.with_for_update()
    segment = uow.session.execute(query).scalar_one_or_none()
    if segment is None:
        raise NotFound("segment_not_found", "segment not found", {"segment_id": segment_id})
    return segment


def _require_writer(principal: Principal, segment: Segment) -> None:
    """Its owner changes a segment; an administrator, or a manager who sees the owner's
    records, too. Others may read a shared segment but not change it."""
    if principal.role == "system" or (
            principal.user_id is not None and segment.owner_id == principal.user_id):
        return
    if principal.role == "admin" or (principal.role == "manager"
                                     and principal.can_see_owner(segment.owner_id)):
        return
    raise Forbidden("forbidden", "only the segment's owner or their manager may change it",
                    {"segment_id": segment.id})


def _name_taken(name: str) -> Conflict:
    return Conflict("segment_name_taken", "you already have a segment of that name",
                    {"name": name})


def _check_name(uow: UnitOfWork, owner_id: str | None, name: str, exclude: str = "") -> None:
    owner = Segment.owner_id == owner_id if owner_id is not None else Segment.owner_id.is_(None)
    with uow.session.no_autoflush:
        clash = uow.session.execute(sa.select(Segment.id).where(
            owner, Segment.name == name, Segment.id != exclude)).first()
    if clash:
        raise _name_taken(name)


def _flush_unique(uow: UnitOfWork, name: str) -> None:
    """Flush; a concurrent segment of the same owner and name is 409 (the store's unique
    constraint decides the race)."""
    try:
        uow.session.flush()
    except IntegrityError:
        raise _name_taken(name) from None


def create_segment(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*MANAGERS, "sales")
    spec = parse(SegmentCreate, data)
    _check_name(uow, principal.user_id, spec.name)
    now = timeutil.now()
    segment = Segment(id=new_id(), name=spec.name, description=spec.description or None,
                      owner_id=principal.user_id, team_id=principal.team_id,
                      shared=spec.shared, filters=spec.filters.stored(), created_at=now,
                      updated_at=now)
    uow.session.add(segment)
    _flush_unique(uow, segment.name)
    uow.emit(events.SEGMENT_CREATED, {**_summary(segment),
                                      "description": segment.description})
    return dump_segment(segment)


def list_segments(uow: UnitOfWork, principal: Principal, cursor=None, limit=None,
                  mine=False) -> dict:
    """Segments the caller may read (shared ones and those of owners in scope), newest
    first, keyset pages; ``mine``: only the caller's own."""
    query = sa.select(Segment).where(_segment_visible(principal))
    if mine:
        query = query.where(Segment.owner_id == (principal.user_id or ""))
    return paginate(uow.session, query, Segment.id, cursor, page_limit(limit), dump_segment)


def get_segment(uow: UnitOfWork, principal: Principal, segment_id) -> dict:
    return dump_segment(_load(uow, principal, segment_id))


def update_segment(uow: UnitOfWork, principal: Principal, segment_id, data: dict) -> dict:
    spec = parse(SegmentUpdate, data)
    given = spec.model_dump(exclude_unset=True)
    nulls = [k for k in ("name", "shared", "filters") if k in given and given[k] is None]
    if nulls:
        raise ValidationFailed("validation_error", f"{nulls[0]} may not be null",
                               [{"field": k, "message": "may be omitted but not null"}
                                for k in nulls])
    segment = _load(uow, principal, segment_id, lock=True)
    _require_writer(principal, segment)
    wanted = {k: v for k, v in given.items() if k != "filters"}
    if "description" in wanted:
        wanted["description"] = wanted["description"] or None
    if spec.filters is not None:
        wanted["filters"] = spec.filters.stored()
    if "name" in wanted and wanted["name"] != segment.name:
        _check_name(uow, segment.owner_id, wanted["name"], exclude=segment.id)
    changes = {}
    for key, value in wanted.items():
        before = getattr(segment, key)
        before = dict(before or {}) if key == "filters" else before
        if before != value:
            changes[key] = {"from": before, "to": value}
            setattr(segment, key, value)
    if changes:
        segment.updated_at = timeutil.now()
        if "name" in changes:
            _flush_unique(uow, segment.name)
        uow.emit(events.SEGMENT_UPDATED, {**_summary(segment), "changes": changes})
    return dump_segment(segment)


def delete_segment(uow: UnitOfWork, principal: Principal, segment_id) -> dict:
    segment = _load(uow, principal, segment_id, lock=True)
    _require_writer(principal, segment)
    summary = _summary(segment)
    uow.session.delete(segment)
    uow.emit(events.SEGMENT_DELETED, summary)
    return {"id": summary["segment_id"], "deleted": True}


def count_segments(uow: UnitOfWork, principal: Principal, segment_ids, team_members=None
                   ) -> dict:
    """Live member counts in the caller's scope: ``{counts: {segment id: n}}`` for the
    segments of ``segment_ids`` the caller may read (others are left out)."""
    if not isinstance(segment_ids, list) or len(segment_ids) > MAX_COUNTED:
        raise ValidationFailed("validation_error",
                               f"segment_ids must be a list of at most {MAX_COUNTED} ids",
                               [{"field": "segment_ids", "message": "not a short list"}])
    wanted = sorted({str(s) for s in segment_ids})
    rows = uow.session.execute(sa.select(Segment).where(
        Segment.id.in_(wanted), _segment_visible(principal))).scalars().all()
    return {"counts": {s.id: _count(uow, principal, dict(s.filters or {}), team_members)
                       for s in rows}}


def segment_members(uow: UnitOfWork, principal: Principal, segment_id, team_members=None,
                    cursor=None, limit=None) -> dict:
    """A page of the segment's customers that the caller may see, newest first."""
    segment = _load(uow, principal, segment_id)
    query = _members_query(uow, principal, dict(segment.filters or {}), team_members)
    page = paginate(uow.session, query, Customer.id, cursor, page_limit(limit, maximum=1000),
                    dump_member)
    return {**page, "segment_id": segment.id}


def preview_segment(uow: UnitOfWork, principal: Principal, filters=None, team_members=None,
                    cursor=None, limit=None) -> dict:
    """Unsaved filters: the member count in the caller's scope and a page of members;
    nothing is stored."""
    principal.require_role(*MANAGERS, "sales")
    stored = validate_filters(filters)
    size = page_limit(limit)
    uow.snapshot()                      # the count and the page agree with each other
    query = _members_query(uow, principal, stored, team_members)
    page = paginate(uow.session, query, Customer.id, cursor, size, dump_member)
    return {"filters": stored, "count": _count(uow, principal, stored, team_members), **page}


# -- customer value from analytics ----------

def on_value_changed(uow: UnitOfWork, event: dict) -> str:
    """``customer.value_changed`` → ``value_tier``, ``rfm``, ``churn_risk`` of the customer.

    Out-of-order safe: applied only when the event is newer (``occurred_at``) than the value
    the customer holds, under the customer's row lock. The event names the customer analytics
    valued: a customer merged into another is not followed to the survivor (the survivor gets
    its own, combined, values from analytics), so a merged customer's values never overwrite
    the survivor's. Returns what happened (``applied``, ``stale``, ``merged``, ``unknown``)."""
    spec = parse(ValueChanged, event.get("data"))
    occurred = timeutil.parse_time(event.get("occurred_at"))
    if occurred is None:
        raise ValidationFailed("validation_error", "occurred_at is required")
    customer = uow.session.execute(sa.select(Customer).where(
        Customer.id == spec.customer_id).with_for_update()).scalar_one_or_none()
    if customer is None:
        log.warning("customer.value_changed for unknown customer %s", spec.customer_id)
        return "unknown"
    if customer.merged_into:
        return "merged"
    if customer.value_as_of is not None and occurred <= customer.value_as_of:
        return "stale"
    customer.value_tier = spec.tier
    customer.rfm = f"{spec.r}{spec.f}{spec.m}"
    customer.churn_risk = spec.churn_risk
    customer.churn_reason = spec.churn_reason if spec.churn_risk else None
    customer.value_as_of = occurred
    return "applied"
