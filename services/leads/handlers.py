"""Use cases of the leads service: one function per command or query.

Each takes the unit of work and the caller's principal, applies the pure rules
of ``domain/`` and reports what happened as events on the unit of work.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.db import insert_many, insert_objects
from crmkit.errors import Conflict, DomainError, NotFound, ValidationFailed
from crmkit.ids import new_id
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import list_scope, visible
from crmkit.text import normalize_company, normalize_email, normalize_phone
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.leads import campaigns, events, scoring
from services.leads.domain import rules
from services.leads.models import (
    FollowUp,
    Lead,
    LeadAction,
    LeadClaim,
    LeadPool,
    LeadPoolMember,
    PoolRulesRow,
)
from services.leads.schemas import (
    FollowUpCreate,
    LeadCreate,
    LeadUpdate,
    PoolCreate,
    PoolRulesInput,
    TransferInput,
)

WORK_POOL = ("admin", "manager", "sales")
MANAGERS = ("admin", "manager", "system")


def dump_lead(lead: Lead) -> dict:
    return {
        "id": lead.id, "pool": lead.pool, "name": lead.name, "company": lead.company,
        "title": lead.title, "phone": lead.phone, "email": lead.email, "source": lead.source,
        "region": lead.region, "industry": lead.industry, "notes": lead.notes,
        "tags": list(lead.tags or []), "status": lead.status, "owner_id": lead.owner_id,
        "previous_owner_id": lead.previous_owner_id,
        "claimed_at": timeutil.iso(lead.claimed_at),
        "follow_up_deadline": timeutil.iso(lead.follow_up_deadline),
        "convert_deadline": timeutil.iso(lead.convert_deadline),
        "due_at": timeutil.iso(lead.due_at),
        "last_follow_up_at": timeutil.iso(lead.last_follow_up_at),
        "locked": bool(lead.locked), "locked_by": lead.locked_by,
        "locked_at": timeutil.iso(lead.locked_at),
        "customer_id": lead.customer_id, "campaign_id": lead.campaign_id,
        "score": lead.score, "score_reasons": list(lead.score_reasons or []),
        "score_model_version": lead.score_model_version,
        "scored_at": timeutil.iso(lead.scored_at),
        "created_by": lead.created_by,
        "created_at": timeutil.iso(lead.created_at), "updated_at": timeutil.iso(lead.updated_at),
    }


def dump_follow_up(f: FollowUp) -> dict:
    return {
        "id": f.id, "lead_id": f.lead_id, "author_id": f.author_id, "kind": f.kind,
        "content": f.content, "occurred_at": timeutil.iso(f.occurred_at),
        "next_follow_up_at": timeutil.iso(f.next_follow_up_at),
        "created_at": timeutil.iso(f.created_at),
    }


def dump_action(a: LeadAction) -> dict:
    return {"id": a.id, "lead_id": a.lead_id, "actor_id": a.actor_id, "action": a.action,
            "field": a.field, "from": a.from_value, "to": a.to_value, "reason": a.reason,
            "at": timeutil.iso(a.at)}


# -- pools ------------------------------------------------------------------------------

def pool_exists(session, pool: str) -> bool:
    return pool == "default" or session.get(LeadPool, pool) is not None


def pool_rules(session, pool: str) -> rules.PoolRules:
    if not pool_exists(session, pool):
        raise NotFound("pool_not_found", f"no lead pool {pool!r}", {"pool": pool})
    row = session.get(PoolRulesRow, pool)
    if row is None:
        return rules.PoolRules()
    return rules.PoolRules.from_dict({
        "follow_up_days": row.follow_up_days, "max_leads_per_rep": row.max_leads_per_rep,
        "max_claims_per_day": row.max_claims_per_day,
        "reclaim_cooldown_days": row.reclaim_cooldown_days,
        "warn_days_before": row.warn_days_before,
        "return_conditions": row.return_conditions or []})


def pool_members(session, pool: str) -> set[str]:
    return set(session.execute(sa.select(LeadPoolMember.user_id)
                               .where(LeadPoolMember.pool == pool)).scalars())


def my_pools(session, principal: Principal) -> list[str] | None:
    """The pools whose unowned leads the caller may see and work; None: every pool."""
    if principal.role in MANAGERS:
        return None
    mine = session.execute(sa.select(LeadPoolMember.pool)
                           .where(LeadPoolMember.user_id == principal.user_id)).scalars()
    return ["default", *mine]


def require_pool_worker(session, principal: Principal, pool: str) -> None:
    members = pool_members(session, pool) if pool != "default" else set()
    if not rules.may_work_pool(pool=pool, role=principal.role, user_id=principal.user_id,
                               members=members):
        raise NotFound("pool_not_found", f"you are not a member of lead pool {pool!r}",
                       {"pool": pool})


def all_pools(session) -> list[str]:
    return ["default", *session.execute(sa.select(LeadPool.name).order_by(LeadPool.name))
            .scalars()]


# -- helpers ----------------------------------------------------------------------------

def _visible(session, principal: Principal):
    """SQL condition: leads the caller may see (pool leads of their pools, and those of
    visible owners)."""
    condition = visible(principal, Lead.owner_id, pool=True)
    pools = my_pools(session, principal)
    if pools is not None:
        condition = sa.and_(condition, sa.or_(Lead.owner_id.is_not(None), Lead.pool.in_(pools)))
    return condition


def _load(uow: UnitOfWork, principal: Principal, lead_id: str, *, lock: bool = False,
          scoped: bool = True) -> Lead:
    query = sa.select(Lead).where(Lead.id == str(lead_id))
    if scoped:
        query = query.where(_visible(uow.session, principal))
    if lock:
        query = query.with_for_update()
    lead = uow.session.execute(query).scalar_one_or_none()
    if lead is None:
        raise NotFound("lead_not_found", "lead not found", {"lead_id": lead_id})
    return lead


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return timeutil.iso(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _log(uow: UnitOfWork, lead_id: str, action: str, field: str | None = None, old=None,
         new=None, reason: str | None = None, at: datetime | None = None) -> None:
    """One row of the lead's action log (who = the unit's actor; None: the system)."""
    uow.session.add(LeadAction(**_action(uow.actor_id, lead_id, action, field, old, new,
                                         reason, at)))


def _action(actor_id: str | None, lead_id: str, action: str, field: str | None = None,
            old=None, new=None, reason: str | None = None,
            at: datetime | None = None) -> dict:
    """A row of the lead's action log (its columns by name), not yet written anywhere:
    ``_log`` adds it as a ``LeadAction``, a create batch inserts its rows as they are (no
    ORM object per create)."""
    return {"id": new_id(), "lead_id": lead_id, "actor_id": actor_id, "action": action,
            "field": field, "from_value": _text(old), "to_value": _text(new),
            "reason": reason, "at": at or timeutil.now()}


def _set_deadlines(lead: Lead, limits: rules.PoolRules) -> None:
    """Recompute the owned lead's deadlines from its claim and last follow-up."""
    if lead.owner_id is None:
        lead.follow_up_deadline = lead.convert_deadline = lead.due_at = None
        return
    found = rules.deadlines(source=lead.source, claimed_at=timeutil.aware(lead.claimed_at),
                            last_follow_up_at=timeutil.aware(lead.last_follow_up_at),
                            rules=limits)
    lead.follow_up_deadline, lead.convert_deadline, lead.due_at = \
        found.follow_up, found.convert, found.due


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


def _duplicate(existing_id: str) -> Conflict:
    return Conflict("duplicate_lead", "a lead with the same phone, email or company exists",
                    {"existing_id": existing_id})


class _NewLead:
    """A create request checked against everything but the other leads: its spec, its pool's
    rules and its normalised keys (what duplicate detection compares)."""

    def __init__(self, session, principal: Principal, data: dict,
                 pools: dict[str, rules.PoolRules] | None = None):
        principal.require_role("admin", "manager", "sales", "service")
        self.principal = principal
        self.spec = spec = parse(LeadCreate, data)
        if pools is not None and spec.pool in pools:
            self.limits = pools[spec.pool]
        else:
            self.limits = pool_rules(session, spec.pool)  # unknown pool -> 404
            if pools is not None:
                pools[spec.pool] = self.limits
        require_pool_worker(session, principal, spec.pool)
        self.phone, self.email = normalize_phone(spec.phone), normalize_email(spec.email)
        self.company = normalize_company(spec.company)
        if spec.owner_id is not None and spec.owner_id != principal.user_id:
            principal.require_role("admin", "manager")

    def keys(self) -> list[tuple]:
        """What makes another lead a duplicate of this one: the same phone, the same
        e-mail, or the same company and name."""
        found = []
        if self.phone:
            found.append(("phone", self.phone))
        if self.email:
            found.append(("email", self.email))
        if self.company:
            found.append(("company", self.company, self.spec.name))
        return found

    def build(self, session, now: datetime) -> Lead:
        spec, owner = self.spec, self.spec.owner_id
        lead = Lead(**spec.model_dump(exclude={"owner_id"}), owner_id=owner,
                    phone_norm=self.phone, email_norm=self.email, company_norm=self.company,
                    locked=False, created_by=self.principal.user_id, created_at=now,
                    updated_at=now)
        if owner is not None:
            lead.claimed_at = now
            if lead.status == "new":
                lead.status = "following"
            _set_deadlines(lead, self.limits)
        scoring.score_lead(session, lead, now, follow_ups=0)   # part of the INSERT
        return lead


def create_lead(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    """One create: a batch of one (``create_leads``), so both answer alike."""
    answer, = create_leads(uow, [(principal, None, data)])
    if isinstance(answer, DomainError):
        raise answer
    return answer


def create_leads(uow: UnitOfWork, items: list[tuple[Principal, str | None, dict]]
                 ) -> list[dict | DomainError]:
    """Several creates in one transaction (the gateway coalesces concurrent ``POST /leads``).

    ``items``: (caller, correlation id, request body). Each answer is the created lead or
    the domain error its request alone would have got; a later item that duplicates an
    earlier one of the batch is a 409 naming it, exactly as if they had come one after the
    other. One query finds the store's duplicates of the whole batch, one INSERT writes its
    leads, one its action rows, one its events; each event carries its own caller and
    correlation id."""
    session = uow.session
    answers: list[dict | DomainError] = []
    checked: list[tuple[int, _NewLead]] = []
    pools: dict[str, rules.PoolRules] = {}
    known_campaigns: set[str] = set()
    for principal, _cid, data in items:
        try:
            new = _NewLead(session, principal, data, pools)
            campaign = new.spec.campaign_id
            if campaign is not None and str(campaign) not in known_campaigns:
                campaigns.require_campaign(session, campaign)   # unknown -> 422
                known_campaigns.add(str(campaign))
        except DomainError as exc:
            answers.append(exc)
            continue
        checked.append((len(answers), new))
        answers.append({})
    taken = taken_keys(session, [key for _, new in checked for key in new.keys()])
    now = timeutil.now()
    created: list[tuple[int, Lead, tuple[Principal, str | None, dict]]] = []
    for index, new in checked:
        keys = new.keys()
        existing = next((taken[k] for k in keys if k in taken), None)
        if existing is not None:
            answers[index] = _duplicate(existing)
            continue
        lead = new.build(session, now)
        lead.id = lead.id or new_id()
        for key in keys:
            taken[key] = lead.id
        created.append((index, lead, items[index]))
    # without the ORM's unit of work (insert_objects): two statements for the whole batch
    insert_objects(session, [lead for _, lead, _ in created])
    insert_many(session, LeadAction.__table__, [
        _action(principal.user_id, lead.id, "created", "owner_id", None, lead.owner_id, at=now)
        for _, lead, (principal, _cid, _data) in created])
    for index, lead, (principal, cid, _data) in created:
        uow.actor_id, uow.correlation_id = principal.user_id, cid or uow.correlation_id
        uow.emit(events.LEAD_CREATED, events.lead_summary(lead))
        answers[index] = dump_lead(lead)
    return answers


#: most creates one ``create_leads`` call may carry
CREATE_BATCH_MAX = 500


def create_batch(items) -> list[tuple[Principal, str | None, dict]]:
    """The items of a ``create_leads`` call as (caller, correlation id, body); an item
    without a caller is refused rather than run with the platform's own rights."""
    if not isinstance(items, list) or not 1 <= len(items) <= CREATE_BATCH_MAX:
        raise ValidationFailed("validation_error",
                               f"send 1 to {CREATE_BATCH_MAX} items per call")
    batch = []
    for item in items:
        who = item.get("principal") if isinstance(item, dict) else None
        if not isinstance(who, dict) or not who.get("user_id"):
            raise ValidationFailed("validation_error", "every item needs its caller",
                                   [{"field": "principal", "message": "missing"}])
        data = item.get("data")
        batch.append((Principal.from_json(who), item.get("correlation_id"),
                      data if isinstance(data, dict) else {}))
    return batch


_LOCK_KEYS = sa.text(
    "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
    " FROM unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS sorted")


def _lock_keys(session, keys: list[tuple]) -> None:
    """PostgreSQL: take a transaction lock per duplicate key (phone, e-mail, company+name)
    before looking for duplicates, in one sorted order (no deadlock). A concurrent create
    with one of the same keys — another worker, another replica — waits for this transaction
    and then finds its lead: two requests for one phone never both succeed."""
    if keys and session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_KEYS, {"keys": ["\x1f".join(map(str, key)) for key in keys]})


# one lead per key, found through the key's own index whatever the size of the batch and the
# state of the table's statistics: an OR of three IN lists of hundreds of values is planned
# as a scan of the whole table
_TAKEN_PG = sa.text(
    "SELECT 'phone' AS kind, k.v AS value, NULL AS name, l.id "
    "FROM unnest(CAST(:phones AS text[])) AS k(v) CROSS JOIN LATERAL "
    "(SELECT id FROM leads WHERE phone_norm = k.v LIMIT 1) AS l "
    "UNION ALL SELECT 'email', k.v, NULL, l.id "
    "FROM unnest(CAST(:emails AS text[])) AS k(v) CROSS JOIN LATERAL "
    "(SELECT id FROM leads WHERE email_norm = k.v LIMIT 1) AS l "
    "UNION ALL SELECT 'company', k.c, k.n, l.id "
    "FROM unnest(CAST(:companies AS text[]), CAST(:names AS text[])) AS k(c, n) "
    "CROSS JOIN LATERAL (SELECT id FROM leads WHERE company_norm = k.c AND name = k.n "
    "LIMIT 1) AS l")


def taken_keys(session, keys: list[tuple]) -> dict[tuple, str]:
    """Duplicate keys (``_NewLead.keys``) already used by a lead of the store -> that lead's
    id, the keys locked first (``_lock_keys``): creates and imports both ask here."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    _lock_keys(session, keys)
    if session.get_bind().dialect.name == "postgresql":
        companies = [key for key in keys if key[0] == "company"]
        rows = session.execute(_TAKEN_PG, {
            "phones": [key[1] for key in keys if key[0] == "phone"],
            "emails": [key[1] for key in keys if key[0] == "email"],
            "companies": [key[1] for key in companies], "names": [key[2] for key in companies]})
        return {(row.kind, row.value, row.name) if row.kind == "company" else
                (row.kind, row.value): row.id for row in rows}
    terms = [Lead.phone_norm.in_({key[1] for key in keys if key[0] == "phone"}),
             Lead.email_norm.in_({key[1] for key in keys if key[0] == "email"}),
             Lead.company_norm.in_({key[1] for key in keys if key[0] == "company"})]
    taken: dict[tuple, str] = {}
    for row in session.execute(sa.select(Lead.id, Lead.phone_norm, Lead.email_norm,
                                         Lead.company_norm, Lead.name).where(sa.or_(*terms))):
        for key in (("phone", row.phone_norm), ("email", row.email_norm),
                    ("company", row.company_norm, row.name)):
            if key[1] is not None:
                taken.setdefault(key, row.id)
    return taken


SHORT_QUERY = 3   # pg_trgm finds no trigram in a pattern shorter than this


def _search(q: str, dialect: str = "postgresql"):
    """Text search over name, company, e-mail and (digits only) phone.

    From 3 characters on: contains (``ILIKE '%…%'``), served on PostgreSQL by the pg_trgm GIN
    indexes of migration 0003. Shorter queries (a 2-character Chinese name such as 张伟)
    have no trigram, so there they match the START of name or company (case-insensitive),
    served by the ``lower(...) text_pattern_ops`` b-tree indexes. SQLite always scans.
    """
    text = q.strip()
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if len(text) < SHORT_QUERY and dialect == "postgresql":
        prefix = f"{escaped.lower()}%"
        return sa.or_(sa.func.lower(Lead.name).like(prefix, escape="\\"),
                      sa.func.lower(Lead.company).like(prefix, escape="\\"))
    like = f"%{escaped}%"
    terms = [Lead.name.ilike(like, escape="\\"), Lead.company.ilike(like, escape="\\"),
             Lead.email_norm.like(like.lower(), escape="\\")]
    phone = normalize_phone(text)
    if phone and len(phone) >= SHORT_QUERY:
        terms.append(Lead.phone_norm.like(f"%{phone}%"))
    return sa.or_(*terms)


def lead_query(session, principal: Principal, scope: str = "all", status=None, source=None,
               owner_id=None, q=None, pool=None, campaign_id=None) -> sa.Select:
    query = sa.select(Lead).where(_visible(session, principal),
                                  list_scope(principal, scope, Lead.owner_id))
    if scope == "pool":
        query = query.where(Lead.status.not_in(rules.CLOSED))
    if status:
        query = query.where(Lead.status == status)
    if source:
        query = query.where(Lead.source == source)
    if owner_id:
        query = query.where(Lead.owner_id == owner_id)
    if pool:
        query = query.where(Lead.pool == pool)
    if campaign_id:
        query = query.where(Lead.campaign_id == str(campaign_id))
    if q and q.strip():
        query = query.where(_search(q, session.bind.dialect.name))
    return query


SORTS = ("created", "score")


def list_leads(uow: UnitOfWork, principal: Principal, scope: str = "all", status=None,
               source=None, owner_id=None, q=None, cursor=None, limit=None, pool=None,
               campaign_id=None, sort=None) -> dict:
    """Newest first, or with ``sort="score"`` best conversion score first (unscored last,
    ties newest first); keyset-paged either way."""
    sort = sort or "created"
    if sort not in SORTS:
        raise ValidationFailed("validation_error", f"sort must be one of {', '.join(SORTS)}",
                               [{"field": "sort", "message": "unknown sort"}])
    query = lead_query(uow.session, principal, scope, status, source, owner_id, q, pool,
                       campaign_id)
    size = page_limit(limit, maximum=1000)
    if sort == "score":
        return scoring.paginate_by_score(uow.session, query, cursor, size, dump_lead)
    return paginate(uow.session, query, Lead.id, cursor, size, dump_lead)


def get_lead(uow: UnitOfWork, principal: Principal, lead_id: str) -> dict:
    return dump_lead(_load(uow, principal, lead_id))


def update_lead(uow: UnitOfWork, principal: Principal, lead_id: str, data: dict) -> dict:
    changes = parse(LeadUpdate, data).model_dump(exclude_unset=True)
    lead = _load(uow, principal, lead_id, lock=True)
    if "campaign_id" in changes:
        campaigns.require_campaign(uow.session, changes["campaign_id"])  # unknown -> 422
    if lead.owner_id is None:
        principal.require_role("admin", "manager")
    before = {k: getattr(lead, k) for k in changes}
    for key, value in changes.items():
        setattr(lead, key, value)
    lead.phone_norm = normalize_phone(lead.phone)
    lead.email_norm = normalize_email(lead.email)
    lead.company_norm = normalize_company(lead.company)
    changed = {k: {"from": before[k], "to": changes[k]} for k in changes if before[k] != changes[k]}
    if "source" in changed and lead.owner_id is not None:
        _set_deadlines(lead, pool_rules(uow.session, lead.pool))
    if changed:
        lead.updated_at = timeutil.now()
    uow.session.flush()
    for key, change in changed.items():
        _log(uow, lead.id, "updated", key, change["from"], change["to"])
    if changed:
        scoring.score_lead(uow.session, lead)
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
    require_pool_worker(session, principal, lead.pool)
    limits = pool_rules(session, lead.pool)
    held = session.execute(sa.select(sa.func.count()).select_from(Lead).where(
        Lead.owner_id == me, Lead.status.not_in(rules.CLOSED))).scalar_one()
    today = timeutil.business_day(now)
    claimed_today = session.execute(sa.select(sa.func.count()).select_from(LeadClaim).where(
        LeadClaim.owner_id == me, LeadClaim.business_day == today)).scalar_one()
    rules.check_claim(owner_id=lead.owner_id, status=lead.status, claimant=me, held=held,
                      claimed_today=claimed_today, cooldown_until=lead.reclaim_blocked_until,
                      previous_owner=lead.previous_owner_id, now=now, rules=limits)
    found = rules.deadlines(source=lead.source, claimed_at=now, last_follow_up_at=None,
                            rules=limits)
    won = session.execute(
        sa.update(Lead).where(Lead.id == lead.id, Lead.owner_id.is_(None),
                              Lead.status.not_in(rules.CLOSED))
        .values(owner_id=me, claimed_at=now, follow_up_deadline=found.follow_up,
                convert_deadline=found.convert, due_at=found.due, warned_for=None,
                last_follow_up_at=None, updated_at=now,
                status=sa.case((Lead.status == "new", "following"), else_=Lead.status))
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        raise Conflict("lead_already_claimed", "another rep claimed the lead first")
    session.add(LeadClaim(lead_id=lead.id, owner_id=me, business_day=today, claimed_at=now))
    _log(uow, lead.id, "claimed", "owner_id", None, me, at=now)
    session.flush()
    session.refresh(lead)
    uow.emit(events.LEAD_CLAIMED, events.lead_summary(lead))
    return dump_lead(lead)


def _to_pool(lead: Lead, limits: rules.PoolRules, now: datetime) -> str:
    """Take the lead off its owner (the previous owner may not reclaim it for a while)."""
    previous = lead.owner_id
    lead.previous_owner_id = previous
    lead.reclaim_blocked_until = now + timeutil.days(limits.reclaim_cooldown_days)
    lead.owner_id, lead.claimed_at = None, None
    lead.follow_up_deadline = lead.convert_deadline = lead.due_at = lead.warned_for = None
    lead.updated_at = now
    return previous


def release_lead(uow: UnitOfWork, principal: Principal, lead_id: str, reason: str | None) -> dict:
    if not reason or not str(reason).strip():
        raise ValidationFailed("validation_error", "a reason is required to release a lead",
                               [{"field": "reason", "message": "required"}])
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.owner_id is None:
        raise Conflict("lead_in_pool", "the lead is already in the public pool")
    if lead.status in rules.CLOSED:
        raise Conflict("lead_closed", f"a {lead.status} lead cannot be released")
    if lead.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    now = timeutil.now()
    previous = _to_pool(lead, pool_rules(uow.session, lead.pool), now)
    uow.session.flush()
    _log(uow, lead.id, "released", "owner_id", previous, None, str(reason).strip(), at=now)
    uow.emit(events.LEAD_RELEASED, {**events.lead_summary(lead), "previous_owner_id": previous,
                                    "reason": str(reason).strip()})
    return dump_lead(lead)


def _give(uow: UnitOfWork, lead: Lead, owner_id: str, now: datetime) -> str | None:
    """Make ``owner_id`` the owner from now, with fresh deadlines."""
    previous = lead.owner_id
    lead.owner_id, lead.claimed_at, lead.last_follow_up_at = owner_id, now, None
    lead.warned_for = None
    if lead.status == "new":
        lead.status = "following"
    lead.updated_at = now
    _set_deadlines(lead, pool_rules(uow.session, lead.pool))
    return previous


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
    previous = _give(uow, lead, owner_id, now)
    uow.session.flush()
    _log(uow, lead.id, "assigned", "owner_id", previous, owner_id, at=now)
    uow.emit(events.LEAD_ASSIGNED, {**events.lead_summary(lead), "previous_owner_id": previous})
    return dump_lead(lead)


def transfer_lead(uow: UnitOfWork, principal: Principal, lead_id: str, data: dict) -> dict:
    """Owner → another rep (转交): by the owner, or a manager/admin who sees the owner."""
    spec = parse(TransferInput, data)
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.owner_id is None:
        raise Conflict("lead_in_pool", "a pool lead is claimed or assigned, not transferred")
    if lead.status in rules.CLOSED:
        raise Conflict("lead_closed", f"a {lead.status} lead cannot be transferred")
    if lead.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    if spec.owner_id == lead.owner_id:
        raise ValidationFailed("validation_error", "the lead already belongs to that user",
                               [{"field": "owner_id", "message": "same as the current owner"}])
    now = timeutil.now()
    previous = _give(uow, lead, spec.owner_id, now)
    uow.session.flush()
    _log(uow, lead.id, "transferred", "owner_id", previous, spec.owner_id, spec.reason, at=now)
    uow.emit(events.LEAD_TRANSFERRED, {**events.lead_summary(lead),
                                       "previous_owner_id": previous, "reason": spec.reason})
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
    if occurred > now + timeutil.days(1):
        raise ValidationFailed("validation_error", "a follow-up cannot lie in the future",
                               [{"field": "occurred_at", "message": "in the future"}])
    record = FollowUp(lead_id=lead.id, author_id=principal.user_id, kind=spec.kind,
                      content=spec.content, occurred_at=occurred,
                      next_follow_up_at=spec.next_follow_up_at, created_at=now)
    uow.session.add(record)
    before = lead.follow_up_deadline
    previous_last = timeutil.aware(lead.last_follow_up_at)
    lead.last_follow_up_at = max(occurred, previous_last or occurred)
    _set_deadlines(lead, pool_rules(uow.session, lead.pool))
    if lead.status == "new":
        _log(uow, lead.id, "followed_up", "status", "new", "following", at=now)
        lead.status = "following"
    lead.updated_at = now
    uow.session.flush()
    _log(uow, lead.id, "followed_up", "follow_up_deadline", before, lead.follow_up_deadline,
         spec.kind, at=now)
    uow.emit(events.LEAD_FOLLOWED_UP, {
        **events.lead_summary(lead), "follow_up_id": record.id, "kind": record.kind,
        "occurred_at": timeutil.iso(record.occurred_at),
        "next_follow_up_at": timeutil.iso(record.next_follow_up_at)})
    scoring.score_lead(uow.session, lead, now)
    return dump_follow_up(record)


def convert_lead(uow: UnitOfWork, principal: Principal, lead_id: str) -> dict:
    lead = _load(uow, principal, lead_id, lock=True)
    if lead.status in rules.CLOSED:
        raise Conflict("lead_closed", f"the lead is already {lead.status}")
    if lead.owner_id is None:
        raise Conflict("lead_in_pool", "claim the lead before converting it")
    if lead.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    before = lead.status
    lead.status = "converted"
    lead.due_at = lead.warned_for = None
    lead.updated_at = timeutil.now()
    uow.session.flush()
    _log(uow, lead.id, "converted", "status", before, "converted")
    uow.emit(events.LEAD_CONVERTED, events.lead_converted(lead))
    return dump_lead(lead)


def set_lock(uow: UnitOfWork, principal: Principal, lead_id: str, locked: bool,
             reason: str | None = None) -> dict:
    """Managers and admins lock a lead (锁定): the return job never takes a locked lead."""
    principal.require_role("admin", "manager")
    lead = _load(uow, principal, lead_id, lock=True)
    if bool(lead.locked) == locked:
        raise Conflict("lead_already_locked" if locked else "lead_not_locked",
                       "the lead is already locked" if locked else "the lead is not locked")
    now = timeutil.now()
    lead.locked = locked
    lead.locked_by, lead.locked_at = (principal.user_id, now) if locked else (None, None)
    lead.updated_at = now
    uow.session.flush()
    _log(uow, lead.id, "locked" if locked else "unlocked", "locked", not locked, locked,
         reason, at=now)
    uow.emit(events.LEAD_LOCKED if locked else events.LEAD_UNLOCKED,
             {**events.lead_summary(lead), "locked": locked, "reason": reason})
    return dump_lead(lead)


def list_actions(uow: UnitOfWork, principal: Principal, lead_id: str, cursor=None,
                 limit=None) -> dict:
    lead = _load(uow, principal, lead_id)
    query = sa.select(LeadAction).where(LeadAction.lead_id == lead.id)
    return paginate(uow.session, query, LeadAction.id, cursor, page_limit(limit), dump_action)


def link_customer(uow: UnitOfWork, event: dict) -> None:
    """``customer.created`` for a lead of ours: remember which customer it became."""
    lead_id = (event.get("data") or {}).get("lead_id")
    if not lead_id:
        return
    lead = uow.session.get(Lead, lead_id)
    if lead is not None and lead.customer_id is None:
        lead.customer_id = event["data"]["customer_id"]
        lead.updated_at = timeutil.now()
        _log(uow, lead.id, "linked", "customer_id", None, lead.customer_id)


# -- pools and their rules ---------------------------------------------------------------

def _dump_pool(session, name: str) -> dict:
    row = session.get(LeadPool, name)
    return {"name": name, "title": row.title if row else "默认公海",
            "members": None if name == "default" else sorted(pool_members(session, name)),
            "rules": pool_rules(session, name).as_dict()}


def list_pools(uow: UnitOfWork, principal: Principal) -> dict:
    principal.require_role("admin", "manager")
    return {"items": [_dump_pool(uow.session, name) for name in all_pools(uow.session)]}


def get_pool(uow: UnitOfWork, principal: Principal, pool: str) -> dict:
    principal.require_role("admin", "manager")
    pool_rules(uow.session, pool)
    return _dump_pool(uow.session, pool)


def create_pool(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role("admin")
    spec = parse(PoolCreate, data)
    if pool_exists(uow.session, spec.name):
        raise Conflict("pool_exists", f"lead pool {spec.name!r} exists", {"pool": spec.name})
    now = timeutil.now()
    uow.session.add(LeadPool(name=spec.name, title=spec.title, created_by=principal.user_id,
                             created_at=now))
    uow.session.flush()
    for user_id in sorted(set(spec.members)):
        uow.session.add(LeadPoolMember(pool=spec.name, user_id=user_id,
                                       added_by=principal.user_id, added_at=now))
    uow.session.flush()
    uow.emit(events.POOL_CREATED, {"pool": spec.name, "title": spec.title,
                                   "members": sorted(set(spec.members))})
    return _dump_pool(uow.session, spec.name)


def change_members(uow: UnitOfWork, principal: Principal, pool: str, add=(),
                   remove=()) -> dict:
    principal.require_role("admin")
    if pool == "default":
        raise Conflict("default_pool_members", "everyone is a member of the default pool")
    pool_rules(uow.session, pool)
    current = pool_members(uow.session, pool)
    added = sorted({str(u) for u in add or ()} - current)
    removed = sorted({str(u) for u in remove or ()} & current)
    if any(not u or len(u) > 64 for u in added):
        raise ValidationFailed("validation_error", "member ids must be 1-64 characters",
                               [{"field": "user_ids", "message": "invalid id"}])
    now = timeutil.now()
    for user_id in added:
        uow.session.add(LeadPoolMember(pool=pool, user_id=user_id, added_by=principal.user_id,
                                       added_at=now))
    if removed:
        uow.session.execute(sa.delete(LeadPoolMember).where(
            LeadPoolMember.pool == pool, LeadPoolMember.user_id.in_(removed)))
    uow.session.flush()
    if added or removed:
        uow.emit(events.POOL_MEMBERS_CHANGED, {"pool": pool, "added": added,
                                               "removed": removed})
    return _dump_pool(uow.session, pool)


def get_pool_rules(uow: UnitOfWork, principal: Principal, pool: str) -> dict:
    return {"pool": pool, **pool_rules(uow.session, pool).as_dict()}


def set_pool_rules(uow: UnitOfWork, principal: Principal, pool: str, data: dict) -> dict:
    """Replace a pool's rules; the deadlines of its owned open leads follow at once."""
    principal.require_role("admin")
    spec = parse(PoolRulesInput, data)
    session = uow.session
    pool_rules(session, pool)  # unknown pool -> 404
    values = spec.model_dump()
    row = session.get(PoolRulesRow, pool) or PoolRulesRow(pool=pool)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_by = principal.user_id
    row.updated_at = timeutil.now()
    session.add(row)
    session.flush()
    limits = rules.PoolRules.from_dict(values)
    owned = sa.select(Lead).where(Lead.pool == pool, Lead.owner_id.is_not(None),
                                  Lead.status.not_in(rules.CLOSED))
    for lead in session.execute(owned.execution_options(yield_per=1000)).scalars():
        _set_deadlines(lead, limits)
    session.flush()
    uow.emit(events.POOL_RULES_CHANGED, {"pool": pool, **limits.as_dict()})
    return {"pool": pool, **limits.as_dict()}


def preview_pool_rules(uow: UnitOfWork, principal: Principal, pool: str,
                       data: dict | None = None) -> dict:
    """Dry run: the leads of ``pool`` the rules (saved, or ``data``) would return now."""
    principal.require_role("admin", "manager")
    current = pool_rules(uow.session, pool)
    limits = rules.PoolRules.from_dict(parse(PoolRulesInput, data).model_dump()) \
        if data else current
    now = timeutil.now()
    query = (sa.select(Lead).where(Lead.pool == pool, Lead.owner_id.is_not(None),
                                   Lead.locked.is_(False), Lead.status.not_in(rules.CLOSED),
                                   visible(principal, Lead.owner_id))
             .order_by(Lead.id))
    items = []
    for lead in uow.session.execute(query.execution_options(yield_per=1000)).scalars():
        found = rules.deadlines(source=lead.source, claimed_at=timeutil.aware(lead.claimed_at),
                                last_follow_up_at=timeutil.aware(lead.last_follow_up_at),
                                rules=limits)
        reason = rules.return_reason(follow_up=found.follow_up, convert=found.convert,
                                     locked=bool(lead.locked), owner_id=lead.owner_id,
                                     status=lead.status, now=now)
        if reason:
            items.append({**dump_lead(lead), "reason": reason,
                          "deadline": timeutil.iso(found.follow_up if reason == rules.OVERDUE
                                                   else found.convert)})
            if len(items) >= 1000:
                break
    return {"items": items}


# -- the return job ----------------------------------------------------------------------

def _due_leads(session, cutoff: datetime, pool: str | None, batch: int) -> list[Lead]:
    query = (sa.select(Lead).where(Lead.owner_id.is_not(None), Lead.locked.is_(False),
                                   Lead.status.not_in(rules.CLOSED), Lead.due_at < cutoff)
             .order_by(Lead.due_at, Lead.id).limit(batch))
    if pool:
        query = query.where(Lead.pool == pool)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # another replica holds them: skip
    return list(session.execute(query).scalars())


def _return_one(uow: UnitOfWork, lead: Lead, cutoff: datetime, now: datetime,
                limits: rules.PoolRules) -> bool:
    """Conditional UPDATE: only a lead still owned by the same rep and still due goes back,
    so with any number of job runs at once a lead is returned (and announced) once."""
    reason = rules.return_reason(follow_up=lead.follow_up_deadline, convert=lead.convert_deadline,
                                 locked=bool(lead.locked), owner_id=lead.owner_id,
                                 status=lead.status, now=now)
    if reason is None:
        return False
    deadline = lead.follow_up_deadline if reason == rules.OVERDUE else lead.convert_deadline
    previous = lead.owner_id
    won = uow.session.execute(
        sa.update(Lead).where(Lead.id == lead.id, Lead.owner_id == previous,
                              Lead.locked.is_(False), Lead.status.not_in(rules.CLOSED),
                              Lead.due_at < cutoff)
        .values(owner_id=None, previous_owner_id=previous, claimed_at=None,
                reclaim_blocked_until=now + timeutil.days(limits.reclaim_cooldown_days),
                follow_up_deadline=None, convert_deadline=None, due_at=None, warned_for=None,
                updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        return False
    _log(uow, lead.id, "returned_to_pool", "owner_id", previous, None, reason, at=now)
    uow.emit(events.LEAD_RETURNED, {
        **events.lead_summary({**dump_lead(lead), "owner_id": None, "follow_up_deadline": None}),
        "previous_owner_id": previous, "reason": reason, "deadline": timeutil.iso(deadline)})
    return True


def _warn_one(uow: UnitOfWork, lead: Lead, now: datetime) -> bool:
    """Once per lead and deadline: ``warned_for`` takes the deadline by a conditional UPDATE."""
    due = lead.due_at
    won = uow.session.execute(
        sa.update(Lead).where(Lead.id == lead.id, Lead.due_at == due,
                              Lead.owner_id == lead.owner_id,
                              sa.or_(Lead.warned_for.is_(None), Lead.warned_for != due))
        .values(warned_for=due)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        return False
    which = "follow_up" if lead.follow_up_deadline == due else "convert"
    uow.emit(events.LEAD_DEADLINE_WARNING, {
        **events.lead_summary(lead), "owner_id": lead.owner_id, "deadline": timeutil.iso(due),
        "deadline_kind": which, "business_day": timeutil.business_day(due).isoformat()})
    return True


def run_return_job(unit: Callable[[], UnitOfWork], pool: str | None = None,
                   batch: int = 200) -> dict:
    """Return every due lead to its pool and warn owners whose deadline is near.

    ``unit`` opens a unit of work (one transaction per batch). Time comes from
    ``timeutil.now()``. Safe with several replicas: each lead moves by a conditional UPDATE.
    """
    now = timeutil.now()
    cutoff = rules.return_cutoff(now)
    returned = warned = 0
    limits: dict[str, rules.PoolRules] = {}
    for _ in range(10_000):
        with unit() as uow:
            due = _due_leads(uow.session, cutoff, pool, batch)
            for lead in due:
                if lead.pool not in limits:
                    limits[lead.pool] = pool_rules(uow.session, lead.pool)
                returned += _return_one(uow, lead, cutoff, now, limits[lead.pool])
        if len(due) < batch:
            break
    with unit() as uow:
        pools = [pool] if pool else all_pools(uow.session)
    for name in pools:
        with unit() as uow:
            warn_before = pool_rules(uow.session, name).warn_days_before
        window = rules.warn_cutoff(now, warn_before)
        if window is None:
            continue
        for _ in range(10_000):
            with unit() as uow:
                query = (sa.select(Lead).where(
                    Lead.pool == name, Lead.owner_id.is_not(None), Lead.locked.is_(False),
                    Lead.status.not_in(rules.CLOSED), Lead.due_at >= cutoff,
                    Lead.due_at < window,
                    sa.or_(Lead.warned_for.is_(None), Lead.warned_for != Lead.due_at))
                    .order_by(Lead.id).limit(batch))
                if uow.session.bind.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                found = list(uow.session.execute(query).scalars())
                for lead in found:
                    warned += _warn_one(uow, lead, now)
            if len(found) < batch:
                break
    return {"returned": returned, "warned": warned, "at": timeutil.iso(now)}
