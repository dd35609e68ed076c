"""Use cases of the leads service: one function per command or query.

Each takes the unit of work and the caller's principal, applies the pure rules
of ``domain/`` and reports what happened as events on the unit of work.
"""
from __future__ import annotations

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import Conflict, NotFound, ValidationFailed
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import list_scope, visible
from crmkit.text import normalize_company, normalize_email, normalize_phone
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.leads import events
from services.leads.domain import rules
from services.leads.models import FollowUp, Lead, LeadClaim, PoolRulesRow
from services.leads.schemas import FollowUpCreate, LeadCreate, LeadUpdate, PoolRulesInput

WORK_POOL = ("admin", "manager", "sales")


def dump_lead(lead: Lead) -> dict:
    return {
        "id": lead.id, "pool": lead.pool, "name": lead.name, "company": lead.company,
        "title": lead.title, "phone": lead.phone, "email": lead.email, "source": lead.source,
        "region": lead.region, "industry": lead.industry, "notes": lead.notes,
        "tags": list(lead.tags or []), "status": lead.status, "owner_id": lead.owner_id,
        "claimed_at": timeutil.iso(lead.claimed_at),
        "follow_up_deadline": timeutil.iso(lead.follow_up_deadline),
        "last_follow_up_at": timeutil.iso(lead.last_follow_up_at),
        "customer_id": lead.customer_id, "created_by": lead.created_by,
        "created_at": timeutil.iso(lead.created_at), "updated_at": timeutil.iso(lead.updated_at),
    }


def dump_follow_up(f: FollowUp) -> dict:
    return {
        "id": f.id, "lead_id": f.lead_id, "author_id": f.author_id, "kind": f.kind,
        "content": f.content, "occurred_at": timeutil.iso(f.occurred_at),
        "next_follow_up_at": timeutil.iso(f.next_follow_up_at),
        "created_at": timeutil.iso(f.created_at),
    }


def pool_rules(session, pool: str) -> rules.PoolRules:
    row = session.get(PoolRulesRow, pool)
    if row is None:
        if pool != "default":
            raise NotFound("pool_not_found", f"no lead pool {pool!r}")
        return rules.PoolRules()
    return rules.PoolRules(row.follow_up_days, row.max_leads_per_rep, row.max_claims_per_day,
                           row.reclaim_cooldown_days, row.warn_days_before)


def _visible(principal: Principal):
    """SQL condition: leads the caller may see (pool leads, and those of visible owners)."""
    return visible(principal, Lead.owner_id, pool=True)


def _load(uow: UnitOfWork, principal: Principal, lead_id: str, *, lock: bool = False,
          scoped: bool = True) -> Lead:
    query = sa.select(Lead).where(Lead.id == str(lead_id))
    if scoped:
        query = query.where(_visible(principal))
    if lock:
        query = query.with_for_update()
    lead = uow.session.execute(query).scalar_one_or_none()
    if lead is None:
        raise NotFound("lead_not_found", "lead not found", {"lead_id": lead_id})
    return lead


def _duplicate_of(session, phone: str | None, email: str | None, company: str | None,
                  name: str) -> Lead | None:
    conditions = []
    if phone:
        conditions.append(Lead.phone_norm == phone)
    if email:
        conditions.append(Lead.email_norm == email)
    if company:
        conditions.append(sa.and_(Lead.company_norm == company, Lead.name == name))
    if not conditions:
        return None
    return session.execute(sa.select(Lead).where(sa.or_(*conditions)).limit(1)).scalar_one_or_none()


def create_lead(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role("admin", "manager", "sales", "service")
    spec = parse(LeadCreate, data)
    session = uow.session
    pool_rules(session, spec.pool)  # unknown pool -> 404
    phone, email = normalize_phone(spec.phone), normalize_email(spec.email)
    company = normalize_company(spec.company)
    duplicate = _duplicate_of(session, phone, email, company, spec.name)
    if duplicate is not None:
        raise Conflict("duplicate_lead", "a lead with the same phone, email or company exists",
                       {"existing_id": duplicate.id})
    now = timeutil.now()
    owner = spec.owner_id
    if owner is not None and owner != principal.user_id:
        principal.require_role("admin", "manager")
    lead = Lead(**spec.model_dump(exclude={"owner_id"}), owner_id=owner,
                phone_norm=phone, email_norm=email, company_norm=company,
                created_by=principal.user_id, created_at=now, updated_at=now)
    if owner is not None:
        lead.claimed_at = now
        lead.follow_up_deadline = rules.follow_up_deadline(now, pool_rules(session, spec.pool))
    session.add(lead)
    session.flush()
    uow.emit(events.LEAD_CREATED, events.lead_summary(lead))
    return dump_lead(lead)


def list_leads(uow: UnitOfWork, principal: Principal, scope: str = "all", status=None,
               source=None, owner_id=None, q=None, cursor=None, limit=None) -> dict:
    query = sa.select(Lead).where(_visible(principal), list_scope(principal, scope, Lead.owner_id))
    if scope == "pool":
        query = query.where(Lead.status.not_in(rules.CLOSED))
    if status:
        query = query.where(Lead.status == status)
    if source:
        query = query.where(Lead.source == source)
    if owner_id:
        query = query.where(Lead.owner_id == owner_id)
    if q:
        like = f"%{q.strip()}%"
        phone = normalize_phone(q)
        terms = [Lead.name.like(like), Lead.company.like(like), Lead.email_norm.like(like.lower())]
        if phone and len(phone) >= 3:
            terms.append(Lead.phone_norm.like(f"%{phone}%"))
        query = query.where(sa.or_(*terms))
    return paginate(uow.session, query, Lead.id, cursor, page_limit(limit), dump_lead)


def get_lead(uow: UnitOfWork, principal: Principal, lead_id: str) -> dict:
    return dump_lead(_load(uow, principal, lead_id))


def update_lead(uow: UnitOfWork, principal: Principal, lead_id: str, data: dict) -> dict:
    changes = parse(LeadUpdate, data).model_dump(exclude_unset=True)
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.owner_id is None:
        principal.require_role("admin", "manager")
    before = {k: getattr(lead, k) for k in changes}
    for key, value in changes.items():
        setattr(lead, key, value)
    lead.phone_norm = normalize_phone(lead.phone)
    lead.email_norm = normalize_email(lead.email)
    lead.company_norm = normalize_company(lead.company)
    uow.session.flush()
    changed = {k: {"from": before[k], "to": changes[k]} for k in changes if before[k] != changes[k]}
    if changed:
        uow.emit(events.LEAD_UPDATED, {**events.lead_summary(lead), "changes": changed})
    return dump_lead(lead)


def claim_lead(uow: UnitOfWork, principal: Principal, lead_id: str) -> dict:
    """Race-free: the row is taken by a conditional UPDATE; one claimant wins, the rest 409."""
    principal.require_role(*WORK_POOL)
    session, me, now = uow.session, principal.user_id, timeutil.now()
    if session.bind.dialect.name == "postgresql":
        # serialise one rep's claims so the per-rep limits hold across replicas
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                        {"k": f"lead-claims:{me}"})
    # unscoped: a lead another rep just took answers 409 to the losers, not 404
    lead = _load(uow, principal, lead_id, scoped=False)
    limits = pool_rules(session, lead.pool)
    held = session.execute(sa.select(sa.func.count()).select_from(Lead).where(
        Lead.owner_id == me, Lead.status.not_in(rules.CLOSED))).scalar_one()
    today = timeutil.business_day(now)
    claimed_today = session.execute(sa.select(sa.func.count()).select_from(LeadClaim).where(
        LeadClaim.owner_id == me, LeadClaim.business_day == today)).scalar_one()
    rules.check_claim(owner_id=lead.owner_id, status=lead.status, claimant=me, held=held,
                      claimed_today=claimed_today, cooldown_until=lead.reclaim_blocked_until,
                      previous_owner=lead.previous_owner_id, now=now, rules=limits)
    deadline = rules.follow_up_deadline(now, limits)
    won = session.execute(
        sa.update(Lead).where(Lead.id == lead.id, Lead.owner_id.is_(None))
        .values(owner_id=me, claimed_at=now, follow_up_deadline=deadline, updated_at=now,
                status=sa.case((Lead.status == "new", "following"), else_=Lead.status))
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        raise Conflict("lead_already_claimed", "another rep claimed the lead first")
    session.add(LeadClaim(lead_id=lead.id, owner_id=me, business_day=today, claimed_at=now))
    session.flush()
    session.refresh(lead)
    uow.emit(events.LEAD_CLAIMED, events.lead_summary(lead))
    return dump_lead(lead)


def release_lead(uow: UnitOfWork, principal: Principal, lead_id: str, reason: str | None) -> dict:
    if not reason or not str(reason).strip():
        raise ValidationFailed("validation_error", "a reason is required to release a lead",
                               [{"field": "reason", "message": "required"}])
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.owner_id is None:
        raise Conflict("lead_in_pool", "the lead is already in the public pool")
    if lead.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    now = timeutil.now()
    limits = pool_rules(uow.session, lead.pool)
    previous = lead.owner_id
    lead.previous_owner_id = previous
    lead.reclaim_blocked_until = now + timeutil.days(limits.reclaim_cooldown_days)
    lead.owner_id, lead.claimed_at, lead.follow_up_deadline = None, None, None
    lead.updated_at = now
    uow.session.flush()
    uow.emit(events.LEAD_RELEASED, {**events.lead_summary(lead), "previous_owner_id": previous,
                                    "reason": str(reason).strip()})
    return dump_lead(lead)


def assign_lead(uow: UnitOfWork, principal: Principal, lead_id: str, owner_id: str) -> dict:
    principal.require_role("admin", "manager")
    if not owner_id:
        raise ValidationFailed("validation_error", "owner_id is required",
                               [{"field": "owner_id", "message": "required"}])
    if not principal.can_see_owner(owner_id):
        raise NotFound("user_not_found", "no such user in your scope", {"owner_id": owner_id})
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.status in rules.CLOSED:
        raise Conflict("lead_closed", f"a {lead.status} lead cannot be assigned")
    now = timeutil.now()
    previous = lead.owner_id
    lead.owner_id, lead.claimed_at = owner_id, now
    lead.follow_up_deadline = rules.follow_up_deadline(now, pool_rules(uow.session, lead.pool))
    if lead.status == "new":
        lead.status = "following"
    lead.updated_at = now
    uow.session.flush()
    uow.emit(events.LEAD_ASSIGNED, {**events.lead_summary(lead), "previous_owner_id": previous})
    return dump_lead(lead)


def add_follow_up(uow: UnitOfWork, principal: Principal, lead_id: str, data: dict) -> dict:
    spec = parse(FollowUpCreate, data)
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.owner_id != principal.user_id:
        if lead.owner_id is None:
            raise Conflict("lead_in_pool", "claim the lead before following it up")
        principal.require_role("admin", "manager")
    if not rules.can_follow_up(lead.status):
        raise Conflict("lead_closed", f"a {lead.status} lead takes no follow-ups")
    now = timeutil.now()
    occurred = spec.occurred_at.astimezone(timeutil.UTC) if spec.occurred_at else now
    record = FollowUp(lead_id=lead.id, author_id=principal.user_id, kind=spec.kind,
                      content=spec.content, occurred_at=occurred,
                      next_follow_up_at=spec.next_follow_up_at, created_at=now)
    uow.session.add(record)
    lead.last_follow_up_at = max(occurred, lead.last_follow_up_at or occurred)
    lead.follow_up_deadline = rules.follow_up_deadline(lead.last_follow_up_at,
                                                       pool_rules(uow.session, lead.pool))
    if lead.status == "new":
        lead.status = "following"
    lead.updated_at = now
    uow.session.flush()
    uow.emit(events.LEAD_FOLLOWED_UP, {
        **events.lead_summary(lead), "follow_up_id": record.id, "kind": record.kind,
        "occurred_at": timeutil.iso(record.occurred_at),
        "next_follow_up_at": timeutil.iso(record.next_follow_up_at)})
    return dump_follow_up(record)


def convert_lead(uow: UnitOfWork, principal: Principal, lead_id: str) -> dict:
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.owner_id is None:
        raise Conflict("lead_in_pool", "claim the lead before converting it")
    if lead.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    if lead.status in rules.CLOSED:
        raise Conflict("lead_closed", f"the lead is already {lead.status}")
    lead.status = "converted"
    lead.updated_at = timeutil.now()
    uow.session.flush()
    uow.emit(events.LEAD_CONVERTED, events.lead_converted(lead))
    return dump_lead(lead)


def link_customer(uow: UnitOfWork, event: dict) -> None:
    """``customer.created`` for a lead of ours: remember which customer it became."""
    lead_id = (event.get("data") or {}).get("lead_id")
    if not lead_id:
        return
    lead = uow.session.get(Lead, lead_id)
    if lead is not None and lead.customer_id is None:
        lead.customer_id = event["data"]["customer_id"]
        lead.updated_at = timeutil.now()


def get_pool_rules(uow: UnitOfWork, principal: Principal, pool: str) -> dict:
    limits = pool_rules(uow.session, pool)
    return {"pool": pool, **limits.__dict__}


def set_pool_rules(uow: UnitOfWork, principal: Principal, pool: str, data: dict) -> dict:
    principal.require_role("admin")
    spec = parse(PoolRulesInput, data)
    row = uow.session.get(PoolRulesRow, pool) or PoolRulesRow(pool=pool)
    for key, value in spec.model_dump().items():
        setattr(row, key, value)
    row.updated_by = principal.user_id
    row.updated_at = timeutil.now()
    uow.session.add(row)
    uow.session.flush()
    uow.emit("lead_pool.rules_changed", {"pool": pool, **spec.model_dump()})
    return {"pool": pool, **spec.model_dump()}


def preview_pool_rules(uow: UnitOfWork, principal: Principal, pool: str,
                       data: dict | None = None) -> dict:
    """Dry run: the leads of ``pool`` the rules would return to the pool now."""
    principal.require_role("admin", "manager")
    limits = parse(PoolRulesInput, data) if data else None
    current = pool_rules(uow.session, pool)
    days = limits.follow_up_days if limits else current.follow_up_days
    cutoff = timeutil.now() - timeutil.days(days)
    basis = sa.func.coalesce(Lead.last_follow_up_at, Lead.claimed_at)
    query = (sa.select(Lead).where(Lead.pool == pool, Lead.owner_id.is_not(None),
                                   Lead.status.not_in(rules.CLOSED), basis <= cutoff)
             .order_by(Lead.id).limit(1000))
    items = [{**dump_lead(lead), "reason": "overdue"}
             for lead in uow.session.execute(query).scalars()]
    return {"items": items}
