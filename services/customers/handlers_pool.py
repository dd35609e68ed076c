"""Use cases: the customer public pool (客户公海: rules, claim, release, lock, the return job)
and merging duplicate customers.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import Conflict, ValidationFailed
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from crmkit.validation import parse
from services.customers import events
from services.customers.domain import rules
from services.customers.handlers import (
    JOB_BATCH,
    MANAGERS,
    _contacts,
    _load,
    _normalized,
    _record,
    _require_writer,
    _set_status,
    _touch,
    dump_customer,
)
from services.customers.handlers_plans import _refresh_next_follow_up
from services.customers.models import (
    Contact,
    Customer,
    CustomerContract,
    FollowUp,
    FollowUpPlan,
    PoolRulesRow,
)
from services.customers.schemas import (
    PoolRulesInput,
)

log = logging.getLogger(__name__)


# -- the customer public pool (客户公海) ----------

def pool_rules(session) -> rules.PoolRules:
    row = session.get(PoolRulesRow, "default")
    if row is None:
        return rules.PoolRules()
    return _rules_from(row.rules)


def _rules_from(data: dict) -> rules.PoolRules:
    spec = parse(PoolRulesInput, data)
    per_level = {level: days.model_dump(exclude_none=True)
                 for level, days in spec.per_level.items()}
    return rules.PoolRules(spec.follow_up_days, spec.deal_days, per_level,
                           spec.max_customers_per_rep, spec.max_locked_per_rep)


def get_pool_rules(uow: UnitOfWork, principal: Principal) -> dict:
    principal.require_role(*MANAGERS)
    return pool_rules(uow.session).to_dict()


def set_pool_rules(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role("admin")
    new = _rules_from(data)
    row = uow.session.get(PoolRulesRow, "default", with_for_update=True)
    before = pool_rules(uow.session).to_dict()
    if row is None:
        row = PoolRulesRow(id="default", rules=new.to_dict())
        uow.session.add(row)
    row.rules, row.updated_by, row.updated_at = new.to_dict(), principal.user_id, timeutil.now()
    uow.session.flush()
    uow.emit(events.POOL_RULES_CHANGED, {"from": before, "to": new.to_dict()})
    return new.to_dict()


def _return_candidates(session, limits: rules.PoolRules, now: datetime, *, lock: bool):
    follow_up_days, deal_days = limits.shortest()
    if not follow_up_days and not deal_days:
        return []
    base = sa.func.coalesce(Customer.claimed_at, Customer.created_at)
    conditions = []
    # a calendar day of slack: the exact day boundary is decided by rules.return_reason
    if follow_up_days:
        cutoff = now - timedelta(days=follow_up_days - 1)
        conditions.append(sa.and_(base <= cutoff, sa.or_(Customer.last_contact_at.is_(None),
                                                         Customer.last_contact_at <= cutoff)))
    if deal_days:
        cutoff = now - timedelta(days=deal_days - 1)
        conditions.append(sa.and_(base <= cutoff, sa.or_(Customer.last_deal_at.is_(None),
                                                         Customer.last_deal_at <= cutoff)))
    query = (sa.select(Customer).where(Customer.owner_id.is_not(None),
                                       Customer.locked.is_(False),
                                       Customer.merged_into.is_(None), sa.or_(*conditions))
             .order_by(Customer.id))
    if lock:
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).scalars()
    out = []
    for customer in rows:
        reason = rules.return_reason(
            owner_id=customer.owner_id, locked=customer.locked,
            merged=customer.merged_into is not None, level=customer.level,
            created_at=customer.created_at, claimed_at=customer.claimed_at,
            last_contact_at=customer.last_contact_at, last_deal_at=customer.last_deal_at,
            now=now, rules=limits)
        if reason:
            out.append((customer, reason))
            if lock and len(out) >= JOB_BATCH:
                break
    return out


def preview_pool_rules(uow: UnitOfWork, principal: Principal, data: dict | None = None) -> dict:
    """Dry run: which customers the rules (given, or the saved ones) would return today."""
    principal.require_role(*MANAGERS)
    limits = pool_rules(uow.session) if data is None else _rules_from(data)
    now = timeutil.now()
    found = _return_candidates(uow.session, limits, now, lock=False)
    items = [{"customer_id": c.id, "name": c.name, "owner_id": c.owner_id, "level": c.level,
              "status": c.status, "reason": reason,
              "last_contact_at": timeutil.iso(c.last_contact_at)} for c, reason in found]
    return {"rules": limits.to_dict(), "as_of": timeutil.iso(now), "count": len(items),
            "items": items[:500]}


def return_to_pool(uow: UnitOfWork) -> int:
    """The return job: customers matching the rules go back to the pool, each exactly once
    (conditional UPDATE on the current owner; ``SKIP LOCKED`` between replicas)."""
    now = timeutil.now()
    limits = pool_rules(uow.session)
    returned = 0
    for customer, reason in _return_candidates(uow.session, limits, now, lock=True):
        owner = customer.owner_id
        won = uow.session.execute(
            sa.update(Customer).where(Customer.id == customer.id, Customer.owner_id == owner,
                                      Customer.locked.is_(False),
                                      Customer.merged_into.is_(None))
            .values(owner_id=None, previous_owner_id=owner, claimed_at=None, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            continue
        uow.session.refresh(customer)
        _record(uow, customer.id, "returned_to_pool", "owner_id", owner, None, note=reason,
                at=now)
        uow.emit(events.CUSTOMER_RETURNED, {**events.customer_summary(customer),
                                            "previous_owner_id": owner, "reason": reason})
        returned += 1
    return returned


def _held(session, owner_id: str, *, locked: bool = False) -> int:
    query = sa.select(sa.func.count()).select_from(Customer).where(
        Customer.owner_id == owner_id, Customer.merged_into.is_(None))
    if locked:
        query = query.where(Customer.locked.is_(True))
    return session.execute(query).scalar_one()


def claim_customer(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    principal.require_role("admin", "manager", "sales")
    customer = _load(uow, principal, customer_id)
    me = principal.user_id
    limits = pool_rules(uow.session)
    rules.check_claim(owner_id=customer.owner_id, claimant=me, held=_held(uow.session, me),
                      rules=limits)
    now = timeutil.now()
    won = uow.session.execute(
        sa.update(Customer).where(Customer.id == customer.id, Customer.owner_id.is_(None),
                                  Customer.merged_into.is_(None))
        .values(owner_id=me, team_id=principal.team_id, claimed_at=now, locked=False,
                locked_at=None, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        raise Conflict("customer_already_claimed", "another rep claimed the customer first")
    uow.session.refresh(customer)
    _record(uow, customer.id, "claimed", "owner_id", None, me, at=now)
    uow.emit(events.CUSTOMER_CLAIMED, events.customer_summary(customer))
    return dump_customer(customer)


def release_customer(uow: UnitOfWork, principal: Principal, customer_id: str,
                     reason: str | None) -> dict:
    if not reason or not str(reason).strip():
        raise ValidationFailed("validation_error", "a reason is required",
                               [{"field": "reason", "message": "required"}])
    customer = _load(uow, principal, customer_id, lock=True)
    if customer.owner_id is None:
        raise Conflict("customer_in_pool", "the customer is already in the pool")
    _require_writer(principal, customer)
    if customer.locked:
        raise Conflict("customer_locked", "unlock the customer before releasing it")
    now = timeutil.now()
    previous = customer.owner_id
    customer.previous_owner_id, customer.owner_id, customer.claimed_at = previous, None, None
    _touch(customer, now)
    uow.session.flush()
    _record(uow, customer.id, "released", "owner_id", previous, None, note=str(reason).strip(),
            at=now)
    uow.emit(events.CUSTOMER_RELEASED, {**events.customer_summary(customer),
                                        "previous_owner_id": previous,
                                        "reason": str(reason).strip()})
    return dump_customer(customer)


def lock_customer(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    customer = _load(uow, principal, customer_id, lock=True)
    if customer.owner_id is None:
        raise Conflict("customer_in_pool", "claim the customer before locking it")
    _require_writer(principal, customer)
    rules.check_lock(locked=customer.locked,
                     locked_held=_held(uow.session, customer.owner_id, locked=True),
                     rules=pool_rules(uow.session))
    now = timeutil.now()
    customer.locked, customer.locked_at = True, now
    _touch(customer, now)
    uow.session.flush()
    _record(uow, customer.id, "locked", "locked", False, True, at=now)
    uow.emit(events.CUSTOMER_LOCKED, events.customer_summary(customer))
    return dump_customer(customer)


def unlock_customer(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    customer = _load(uow, principal, customer_id, lock=True)
    _require_writer(principal, customer)
    if not customer.locked:
        raise Conflict("customer_not_locked", "the customer is not locked")
    customer.locked, customer.locked_at = False, None
    _touch(customer)
    uow.session.flush()
    _record(uow, customer.id, "unlocked", "locked", True, False)
    uow.emit(events.CUSTOMER_UNLOCKED, events.customer_summary(customer))
    return dump_customer(customer)


# -- merge (合并) ----------

def merge_customers(uow: UnitOfWork, principal: Principal, customer_id: str,
                    other_id: str | None) -> dict:
    """Merge ``other_id`` into ``customer_id`` (the survivor): contacts, follow-ups, plans and
    seen contracts move; the other is marked ``merged_into`` and leaves every list."""
    if not other_id or not isinstance(other_id, str):
        raise ValidationFailed("validation_error", "other_id is required",
                               [{"field": "other_id", "message": "required"}])
    if other_id == customer_id:
        raise ValidationFailed("validation_error", "a customer cannot be merged into itself",
                               [{"field": "other_id", "message": "same customer"}])
    # lock both rows in id order (two opposite merges cannot deadlock)
    loaded = {}
    for cid in sorted((str(customer_id), str(other_id))):
        loaded[cid] = _load(uow, principal, cid, lock=True)
    survivor, other = loaded[str(customer_id)], loaded[str(other_id)]
    if not (survivor.owner_id == principal.user_id == other.owner_id
            and principal.user_id is not None):
        principal.require_role(*MANAGERS)
    now = timeutil.now()
    session = uow.session
    if session.execute(sa.select(Contact.id).where(Contact.customer_id == survivor.id,
                                                   Contact.is_primary.is_(True))).first():
        session.execute(sa.update(Contact).where(Contact.customer_id == other.id)
                        .values(is_primary=False).execution_options(synchronize_session=False))
    moved = {}
    for model in (Contact, FollowUp, FollowUpPlan, CustomerContract):
        moved[model.__tablename__] = session.execute(
            sa.update(model).where(model.customer_id == other.id)
            .values(customer_id=survivor.id)
            .execution_options(synchronize_session=False)).rowcount
    session.expire_all()
    survivor, other = session.get(Customer, survivor.id), session.get(Customer, other.id)
    for field in ("last_contact_at", "last_deal_at"):
        mine, theirs = getattr(survivor, field), getattr(other, field)
        if theirs is not None and (mine is None or theirs > mine):
            setattr(survivor, field, theirs)
    for field in ("industry", "region", "address", "phone", "email", "website"):
        if not getattr(survivor, field) and getattr(other, field):
            setattr(survivor, field, getattr(other, field))
    survivor.tags = list(dict.fromkeys([*(survivor.tags or []), *(other.tags or [])]))
    _normalized(survivor)
    _refresh_next_follow_up(uow, survivor)
    other.merged_into = survivor.id
    other.locked = False
    _touch(other, now)
    _touch(survivor, now)
    session.flush()
    contracts = session.execute(sa.select(sa.func.count()).select_from(CustomerContract).where(
        CustomerContract.customer_id == survivor.id)).scalar_one()
    if contracts:
        _set_status(uow, survivor, rules.status_after_contract(contracts), "merged")
    _record(uow, survivor.id, "merged", "merged_from", None, other.id,
            note=f"{other.name} merged into this customer", at=now)
    _record(uow, other.id, "merged_into", "merged_into", None, survivor.id,
            note=f"merged into {survivor.name}", at=now)
    uow.emit(events.CUSTOMER_MERGED, {
        "survivor_id": survivor.id, "merged_id": other.id, "owner_id": survivor.owner_id,
        "merged_owner_id": other.owner_id, "survivor_name": survivor.name,
        "merged_name": other.name, "moved": moved})
    return {**dump_customer(survivor), "contacts": _contacts(uow, survivor.id),
            "merged_id": other.id, "moved": moved}
