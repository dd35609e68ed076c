"""Use cases of the customers service: customers, contacts, level, credit limit, status from
events, action records and the customers part of the 360° view. Follow-ups, plans and the
calendar are in ``handlers_plans``; the public pool and merge in ``handlers_pool``."""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from crmkit import timeutil
from crmkit.errors import NotFound, ValidationFailed
from crmkit.models import money
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import list_scope, visible
from crmkit.text import normalize_company, normalize_email, normalize_phone
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.customers import events
from services.customers.domain import rules
from services.customers.models import (
    Contact,
    CreditLimitChange,
    Customer,
    CustomerAction,
    CustomerContract,
    FollowUp,
    FollowUpPlan,
)
from services.customers.schemas import (
    ContactCreate,
    CustomerCreate,
    CustomerUpdate,
    LevelChange,
)
from services.customers.schemas import (
    CreditLimitChange as CreditLimitInput,
)

log = logging.getLogger(__name__)

MANAGERS = ("admin", "manager")
JOB_BATCH = 200
MAX_CALENDAR_DAYS = 93


def reminder_lead_minutes() -> int:
    return int(os.environ.get("REMINDER_LEAD_MINUTES") or 30)


# -- dumps ----------

def dump_customer(c: Customer) -> dict:
    return {
        "id": c.id, "name": c.name, "type": c.type, "industry": c.industry, "region": c.region,
        "address": c.address, "phone": c.phone, "email": c.email, "website": c.website,
        "source": c.source, "level": c.level, "status": c.status, "owner_id": c.owner_id,
        "team_id": c.team_id, "tags": list(c.tags or []), "credit_limit": money(c.credit_limit),
        "lead_id": c.lead_id, "last_contact_at": timeutil.iso(c.last_contact_at),
        "next_follow_up_at": timeutil.iso(c.next_follow_up_at), "created_by": c.created_by,
        "created_at": timeutil.iso(c.created_at), "updated_at": timeutil.iso(c.updated_at),
        "claimed_at": timeutil.iso(c.claimed_at), "locked": bool(c.locked),
        "locked_at": timeutil.iso(c.locked_at), "last_deal_at": timeutil.iso(c.last_deal_at),
        "merged_into": c.merged_into, **dump_value(c),
    }


def dump_value(c: Customer) -> dict:
    """The customer's value as analytics last sent it (``customer.value_changed``)."""
    rfm = c.rfm or None
    return {"value_tier": c.value_tier,
            "rfm": None if rfm is None else {"r": int(rfm[0]), "f": int(rfm[1]),
                                             "m": int(rfm[2]), "score": rfm},
            "churn_risk": bool(c.churn_risk), "churn_reason": c.churn_reason,
            "value_as_of": timeutil.iso(c.value_as_of)}


def dump_contact(c: Contact) -> dict:
    return {"id": c.id, "customer_id": c.customer_id, "name": c.name, "title": c.title,
            "phone": c.phone, "email": c.email, "is_primary": bool(c.is_primary),
            "created_at": timeutil.iso(c.created_at)}


def dump_follow_up(f: FollowUp) -> dict:
    return {"id": f.id, "customer_id": f.customer_id, "author_id": f.author_id, "kind": f.kind,
            "content": f.content, "happened_at": timeutil.iso(f.happened_at),
            "created_at": timeutil.iso(f.created_at)}


def dump_plan(p: FollowUpPlan, customer_name: str | None = None) -> dict:
    out = {"id": p.id, "customer_id": p.customer_id, "owner_id": p.owner_id, "kind": p.kind,
           "subject": p.subject, "notes": p.notes, "scheduled_at": timeutil.iso(p.scheduled_at),
           "status": p.status, "reminded_at": timeutil.iso(p.reminded_at),
           "created_at": timeutil.iso(p.created_at), "updated_at": timeutil.iso(p.updated_at)}
    if customer_name is not None:
        out["customer_name"] = customer_name
    return out


def dump_action(a: CustomerAction) -> dict:
    return {"id": a.id, "customer_id": a.customer_id, "actor_id": a.actor_id,
            "action": a.action, "field": a.field, "from": _loads(a.from_value),
            "to": _loads(a.to_value), "note": a.note, "at": timeutil.iso(a.at)}


def dump_credit_change(c: CreditLimitChange) -> dict:
    return {"id": c.id, "customer_id": c.customer_id, "from": money(c.from_limit),
            "to": money(c.to_limit), "reason": c.reason, "actor_id": c.actor_id,
            "at": timeutil.iso(c.at)}


def _plain(value):
    """A value as the action log and events carry it (JSON-ready)."""
    if isinstance(value, datetime):
        return timeutil.iso(value)
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _dumps(value) -> str | None:
    return None if value is None else json.dumps(_plain(value), ensure_ascii=False)


def _loads(raw: str | None):
    return None if raw is None else json.loads(raw)


# -- shared pieces ----------

def _record(uow: UnitOfWork, customer_id: str, action: str, field: str | None = None,
            from_value=None, to_value=None, note: str | None = None,
            at: datetime | None = None) -> None:
    """操作记录: one row per change (who, when, what, from, to)."""
    uow.session.add(CustomerAction(
        customer_id=customer_id, actor_id=uow.actor_id, action=action, field=field,
        from_value=_dumps(from_value), to_value=_dumps(to_value),
        note=None if note is None else str(note)[:500], at=at or timeutil.now()))


def _visible(principal: Principal):
    """SQL condition: live customers in the pool (客户公海) and those of visible owners."""
    return sa.and_(visible(principal, Customer.owner_id, pool=True),
                   Customer.merged_into.is_(None))


def _load(uow: UnitOfWork, principal: Principal, customer_id: str, *, lock=False,
          allow_merged=False) -> Customer:
    query = sa.select(Customer).where(Customer.id == str(customer_id),
                                      visible(principal, Customer.owner_id, pool=True))
    if lock:
        query = query.with_for_update()
    customer = uow.session.execute(query).scalar_one_or_none()
    if customer is None:
        raise NotFound("customer_not_found", "customer not found", {"customer_id": customer_id})
    if customer.merged_into and not allow_merged:
        raise NotFound("customer_merged", "the customer was merged into another one",
                       {"customer_id": customer.id, "merged_into": customer.merged_into})
    return customer


def _require_writer(principal: Principal, customer: Customer) -> None:
    """The owner changes a customer; managers and admins change any customer they see."""
    if customer.owner_id is None or customer.owner_id != principal.user_id:
        principal.require_role(*MANAGERS)


def _touch(customer: Customer, now: datetime | None = None) -> None:
    customer.updated_at = now or timeutil.now()


def _normalized(c: Customer) -> None:
    c.name_norm = normalize_company(c.name)
    c.phone_norm = normalize_phone(c.phone)
    c.email_norm = normalize_email(c.email)


def _possible_duplicates(uow: UnitOfWork, c: Customer) -> list[dict]:
    matches = []
    for field, value in (("name", c.name_norm), ("phone", c.phone_norm), ("email", c.email_norm)):
        if not value:
            continue
        column = getattr(Customer, f"{field}_norm")
        for other in uow.session.execute(sa.select(Customer.id, Customer.name).where(
                column == value, Customer.id != c.id, Customer.merged_into.is_(None)).limit(5)):
            matches.append({"id": other.id, "name": other.name, "matched_on": field})
    return matches


def _insert(uow: UnitOfWork, customer: Customer, contacts: list[dict]) -> Customer:
    _normalized(customer)
    uow.session.add(customer)
    uow.session.flush()
    for contact in contacts:
        uow.session.add(Contact(customer_id=customer.id, **contact))
    _record(uow, customer.id, "created", note="lead.converted" if customer.lead_id else None)
    uow.emit(events.CUSTOMER_CREATED, events.customer_summary(customer))
    return customer


def _set_status(uow: UnitOfWork, customer: Customer, status: str, reason: str,
                **extra) -> bool:
    if customer.status == status:
        return False
    before = customer.status
    customer.status = status
    _touch(customer)
    _record(uow, customer.id, "status_changed", "status", before, status, note=reason)
    uow.emit(events.CUSTOMER_STATUS_CHANGED, {**events.customer_summary(customer),
                                              "from": before, "to": status, "reason": reason,
                                              **extra})
    return True


# -- customers ----------

def create_customer(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role("admin", "manager", "sales")
    spec = parse(CustomerCreate, data)
    now = timeutil.now()
    customer = Customer(**spec.model_dump(), owner_id=principal.user_id,
                        team_id=principal.team_id, created_by=principal.user_id,
                        created_at=now, updated_at=now, claimed_at=now)
    _normalized(customer)
    duplicates = _possible_duplicates(uow, customer)
    _insert(uow, customer, [])
    return {**dump_customer(customer), "duplicates": duplicates}


def create_from_lead(uow: UnitOfWork, event: dict) -> Customer | None:
    """``lead.converted`` → the customer, once per lead however often the event arrives."""
    data = event["data"]
    if uow.session.execute(sa.select(Customer.id).where(
            Customer.lead_id == data["lead_id"])).first():
        return None
    now = timeutil.now()
    fields = rules.customer_from_lead(data)
    customer = Customer(**fields, created_by=event.get("actor_id"), created_at=now,
                        updated_at=now, last_contact_at=None,
                        claimed_at=now if fields.get("owner_id") else None)
    return _insert(uow, customer, [rules.primary_contact_from_lead(data)])


def _tag_condition(uow: UnitOfWork, tag: str):
    if uow.session.get_bind().dialect.name == "postgresql":
        return sa.cast(Customer.tags, JSONB).contains([tag])
    each = sa.func.json_each(Customer.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == tag))


def list_customers(uow: UnitOfWork, principal: Principal, scope="all", level=None, status=None,
                   owner_id=None, q=None, cursor=None, limit=None, tag=None) -> dict:
    query = sa.select(Customer).where(_visible(principal),
                                      list_scope(principal, scope, Customer.owner_id))
    if level:
        if level not in rules.LEVELS:
            raise ValidationFailed("validation_error", "unknown level",
                                   [{"field": "level", "message": "A, B, C or D"}])
        query = query.where(Customer.level == level)
    if status:
        if status not in rules.STATUSES:
            raise ValidationFailed("validation_error", "unknown status",
                                   [{"field": "status", "message": "unknown status"}])
        query = query.where(Customer.status == status)
    if owner_id:
        query = query.where(Customer.owner_id == owner_id)
    if tag:
        query = query.where(_tag_condition(uow, str(tag).strip()))
    if q and q.strip():
        text = q.strip()
        like = f"%{text}%"
        terms = [Customer.name.ilike(like), Customer.email_norm.like(like.lower())]
        name = normalize_company(text)
        if name:
            terms.append(Customer.name_norm.like(f"%{name}%"))
        phone = normalize_phone(text)
        if phone and len(phone) >= 3:
            terms.append(Customer.phone_norm.like(f"%{phone}%"))
        query = query.where(sa.or_(*terms))
    return paginate(uow.session, query, Customer.id, cursor, page_limit(limit), dump_customer)


def _contacts(uow: UnitOfWork, customer_id: str) -> list[dict]:
    rows = uow.session.execute(sa.select(Contact).where(
        Contact.customer_id == customer_id).order_by(Contact.id)).scalars()
    return [dump_contact(c) for c in rows]


def get_customer(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    customer = _load(uow, principal, customer_id)
    return {**dump_customer(customer), "contacts": _contacts(uow, customer.id)}


def update_customer(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    changes = parse(CustomerUpdate, data).model_dump(exclude_unset=True)
    level = (data or {}).get("level") if isinstance(data, dict) else None
    customer = _load(uow, principal, customer_id, lock=True)
    _require_writer(principal, customer)
    if level is not None and level != customer.level:
        principal.require_role(*MANAGERS)      # 客户级别 is the managers' decision
        spec = parse(LevelChange, {"level": level, "reason": "PATCH"})
        changes["level"] = spec.level
    nulls = [k for k in ("name", "type", "tags") if k in changes and changes[k] is None]
    if nulls:
        raise ValidationFailed("validation_error", f"{nulls[0]} may not be null",
                               [{"field": k, "message": "may be omitted but not null"}
                                for k in nulls])
    before = {k: getattr(customer, k) for k in changes}
    for key, value in changes.items():
        setattr(customer, key, value)
    _normalized(customer)
    uow.session.flush()
    changed = {k: {"from": _plain(before[k]), "to": _plain(getattr(customer, k))}
               for k in changes if _plain(before[k]) != _plain(getattr(customer, k))}
    if changed:
        _touch(customer)
        for key, change in changed.items():
            _record(uow, customer.id, "updated", key, change["from"], change["to"])
        uow.emit(events.CUSTOMER_UPDATED, {**events.customer_summary(customer),
                                           "changes": changed})
    return dump_customer(customer)


# -- contacts (联系人): exactly one primary ----------

def _demote_primary(uow: UnitOfWork, customer_id: str, keep: str | None = None) -> None:
    query = sa.update(Contact).where(Contact.customer_id == customer_id,
                                     Contact.is_primary.is_(True))
    if keep:
        query = query.where(Contact.id != keep)
    uow.session.execute(query.values(is_primary=False)
                        .execution_options(synchronize_session=False))


def add_contact(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    spec = parse(ContactCreate, data)
    customer = _load(uow, principal, customer_id, lock=True)   # serialises primary changes
    _require_writer(principal, customer)
    has_primary = uow.session.execute(sa.select(Contact.id).where(
        Contact.customer_id == customer.id, Contact.is_primary.is_(True))).first() is not None
    primary = spec.is_primary or not has_primary
    if primary:
        _demote_primary(uow, customer.id)
    contact = Contact(customer_id=customer.id, **spec.model_dump(exclude={"is_primary"}),
                      is_primary=primary, created_at=timeutil.now())
    uow.session.add(contact)
    uow.session.flush()
    _touch(customer)
    _record(uow, customer.id, "contact_added", "contacts", None, contact.name,
            note="primary" if primary else None)
    uow.emit(events.CONTACT_ADDED, {**events.customer_summary(customer),
                                    "contact_id": contact.id, "contact_name": contact.name,
                                    "is_primary": primary})
    return dump_contact(contact)


def list_contacts(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    customer = _load(uow, principal, customer_id)
    return {"items": _contacts(uow, customer.id)}


def set_primary_contact(uow: UnitOfWork, principal: Principal, customer_id: str,
                        contact_id: str) -> dict:
    customer = _load(uow, principal, customer_id, lock=True)
    _require_writer(principal, customer)
    contact = uow.session.execute(sa.select(Contact).where(
        Contact.id == str(contact_id), Contact.customer_id == customer.id)).scalar_one_or_none()
    if contact is None:
        raise NotFound("contact_not_found", "contact not found", {"contact_id": contact_id})
    if not contact.is_primary:
        previous = uow.session.execute(sa.select(Contact.name).where(
            Contact.customer_id == customer.id, Contact.is_primary.is_(True))).scalar()
        _demote_primary(uow, customer.id, keep=contact.id)
        uow.session.flush()
        contact.is_primary = True
        uow.session.flush()
        _touch(customer)
        _record(uow, customer.id, "primary_contact_changed", "primary_contact", previous,
                contact.name)
        uow.emit(events.PRIMARY_CONTACT_CHANGED, {**events.customer_summary(customer),
                                                  "contact_id": contact.id,
                                                  "contact_name": contact.name})
    return {"items": _contacts(uow, customer.id)}


# -- status follows the business ----------

def _live_customer(uow: UnitOfWork, customer_id: str) -> Customer | None:
    """The customer (following merges to the survivor), row-locked."""
    seen = set()
    while customer_id and customer_id not in seen:
        seen.add(customer_id)
        customer = uow.session.execute(sa.select(Customer).where(
            Customer.id == str(customer_id)).with_for_update()).scalar_one_or_none()
        if customer is None or not customer.merged_into:
            return customer
        customer_id = customer.merged_into
    return None


def on_contract_signed(uow: UnitOfWork, event: dict) -> str | None:
    """``contract.signed``: the first contract makes the customer ``deal``, a later ``repeat``.
    Idempotent per contract id (``customer_contracts``), whatever the event id."""
    data = event["data"]
    contract_id = str(data["contract_id"])
    customer = _live_customer(uow, data["customer_id"])
    if customer is None:
        log.warning("contract.signed for unknown customer %s", data["customer_id"])
        return None
    if uow.session.get(CustomerContract, contract_id) is not None:
        return None
    signed_at = timeutil.parse_time(data.get("signed_at")) or timeutil.now()
    total = data.get("total")
    uow.session.add(CustomerContract(contract_id=contract_id, customer_id=customer.id,
                                     number=data.get("number"),
                                     total=None if total is None else Decimal(str(total)),
                                     signed_at=signed_at))
    uow.session.flush()
    count = uow.session.execute(sa.select(sa.func.count()).select_from(CustomerContract).where(
        CustomerContract.customer_id == customer.id)).scalar_one()
    if customer.last_deal_at is None or signed_at > customer.last_deal_at:
        customer.last_deal_at = signed_at
    status = rules.status_after_contract(count)
    _set_status(uow, customer, status, "contract_signed", contract_id=contract_id,
                number=data.get("number"))
    return customer.status


def on_churn_risk(uow: UnitOfWork, event: dict) -> str | None:
    data = event["data"]
    customer = _live_customer(uow, data["customer_id"])
    if customer is None:
        return None
    status = rules.status_after_churn_risk(customer.status)
    if status is not None:
        _set_status(uow, customer, status, "churn_risk", detail=data.get("reason"))
    return customer.status


def change_level(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    principal.require_role(*MANAGERS)
    spec = parse(LevelChange, data)
    customer = _load(uow, principal, customer_id, lock=True)
    if customer.level != spec.level:
        before = customer.level
        customer.level = spec.level
        _touch(customer)
        _record(uow, customer.id, "level_changed", "level", before, spec.level,
                note=spec.reason)
        uow.emit(events.CUSTOMER_LEVEL_CHANGED, {**events.customer_summary(customer),
                                                 "from": before, "to": spec.level,
                                                 "reason": spec.reason})
    return dump_customer(customer)


# -- credit limit (信用额度) ----------

def change_credit_limit(uow: UnitOfWork, principal: Principal, customer_id: str,
                        data: dict) -> dict:
    principal.require_role(*MANAGERS)
    spec = parse(CreditLimitInput, data)
    customer = _load(uow, principal, customer_id, lock=True)
    before = Decimal(customer.credit_limit or 0)
    if before == spec.credit_limit:
        raise ValidationFailed("credit_limit_unchanged", "the credit limit is already that",
                               [{"field": "credit_limit", "message": "unchanged"}])
    now = timeutil.now()
    customer.credit_limit = spec.credit_limit
    _touch(customer, now)
    change = CreditLimitChange(customer_id=customer.id, from_limit=before,
                               to_limit=spec.credit_limit, reason=spec.reason,
                               actor_id=principal.user_id, at=now)
    uow.session.add(change)
    uow.session.flush()
    _record(uow, customer.id, "credit_limit_changed", "credit_limit", before,
            spec.credit_limit, note=spec.reason, at=now)
    uow.emit(events.CUSTOMER_CREDIT_LIMIT_CHANGED, {
        **events.customer_summary(customer), "from": money(before),
        "to": money(spec.credit_limit), "reason": spec.reason, "change_id": change.id})
    return {**dump_customer(customer), "change": dump_credit_change(change)}


def credit_limit_history(uow: UnitOfWork, principal: Principal, customer_id: str, cursor=None,
                         limit=None) -> dict:
    customer = _load(uow, principal, customer_id)
    page = paginate(uow.session, sa.select(CreditLimitChange).where(
        CreditLimitChange.customer_id == customer.id), CreditLimitChange.id, cursor,
        page_limit(limit), dump_credit_change)
    return {**page, "customer_id": customer.id, "credit_limit": money(customer.credit_limit)}


# -- action records (操作记录) ----------

def list_actions(uow: UnitOfWork, principal: Principal, customer_id: str, cursor=None,
                 limit=None) -> dict:
    customer = _load(uow, principal, customer_id, allow_merged=True)
    query = sa.select(CustomerAction).where(CustomerAction.customer_id == customer.id)
    return paginate(uow.session, query, CustomerAction.id, cursor, page_limit(limit),
                    dump_action)


# -- the customers part of the 360° view ----------

def customer_overview(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    customer = _load(uow, principal, customer_id)
    follow_ups = uow.session.execute(sa.select(FollowUp).where(
        FollowUp.customer_id == customer.id).order_by(FollowUp.id.desc()).limit(20)).scalars()
    plans = uow.session.execute(sa.select(FollowUpPlan).where(
        FollowUpPlan.customer_id == customer.id).order_by(FollowUpPlan.id.desc())
        .limit(20)).scalars()
    return {"customer": dump_customer(customer), "contacts": _contacts(uow, customer.id),
            "follow_ups": [dump_follow_up(f) for f in follow_ups],
            "plans": [dump_plan(p) for p in plans]}
