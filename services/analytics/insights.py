"""Use cases of the reports built on the rollups and value projections: the sales briefing,
rankings, dashboard series, weighted forecast, customer value, 7P profile and churn risk.

Scope (``scope`` of the briefing and rankings; always applied to the others):
``me`` = records the caller owns; ``team`` = records of ``principal.visible_user_ids``
(the caller's team and sub-teams, as the gateway resolved them); ``company`` = every
record when the caller sees all, else the visible part (plus ownerless pool records).
"""
from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import NotFound, ValidationFailed
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit
from services.analytics import events as ev
from services.analytics.domain import briefing as rules
from services.analytics.domain import value as values
from services.analytics.domain.envelope import from_cents, parse_probability
from services.analytics.domain.funnel import LOST, WON
from services.analytics.domain.period import day_start, month_start, next_month, split
from services.analytics.models import (
    NONE_KEY,
    CampaignState,
    ChurnFlag,
    CustomerProduct,
    CustomerState,
    CustomerValue,
    DailyEventCount,
    LeadState,
    MonthlyEventCount,
    OpportunityState,
    PipelineStage,
    TicketState,
)

MAX_SERIES_DAYS = 366
CLOSED_TICKET = ("closed", "cancelled")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed("validation_error", f"{field}: {message}",
                            [{"field": field, "message": message}])


def _choice(field: str, value, allowed, default):
    value = default if value in (None, "") else str(value)
    if value not in allowed:
        raise _invalid(field, f"must be one of {', '.join(allowed)}")
    return value


def _day(field: str, value, default: date | None) -> date | None:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(str(value)[:10]) if len(str(value)) == 10 else \
            timeutil.business_day(timeutil.parse_time(value))
    except (TypeError, ValueError):
        raise _invalid(field, "not an ISO 8601 date") from None


def _today() -> date:
    return timeutil.business_day(timeutil.now())


# -- scope -------------------------------------------------------------------------------------

def _scope_filter(column, principal: Principal, scope: str, none_value=NONE_KEY,
                  pool: bool = True):
    """The owners a figure counts: see the module doc. ``pool``: include ownerless rows in
    the company scope."""
    none = column == none_value if none_value is not None else column.is_(None)
    if scope == "me":
        return column == (principal.user_id or "\x00")
    if scope == "team":
        if principal.visible_user_ids is None:
            # sees all: the team is still the caller's team, as far as the principal says
            return sa.and_(column != none_value) if none_value is not None else column.isnot(None)
        return column.in_(sorted(principal.visible_user_ids))
    if principal.sees_all:
        return sa.true()
    visible = column.in_(sorted(principal.visible_user_ids))
    return sa.or_(none, visible) if pool else visible


def _rollup_sums(session, principal: Principal, scope: str, types, first: date, last: date,
                 by_owner: bool = False, by_day: bool = False):
    """{(type[, owner][, day]): (count, cents)} over whole days [first, last]."""
    start = day_start(first, timeutil.business_tz())
    end = day_start(last + timedelta(days=1), timeutil.business_tz())
    period = split(start, end)
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    ranges = [(MonthlyEventCount, r) for r in period.months] + \
             [(DailyEventCount, r) for r in period.days]
    if by_day:  # a series needs per-day rows: daily rollup only
        ranges = [(DailyEventCount, (first, last))]
    for model, (lo, hi) in ranges:
        keys = [model.type] + ([model.owner_key] if by_owner else []) + \
               ([model.day] if by_day else [])
        query = (sa.select(*keys, sa.func.sum(model.count), sa.func.sum(model.amount_cents))
                 .where(model.type.in_(types), model.day >= lo, model.day <= hi,
                        _scope_filter(model.owner_key, principal, scope))
                 .group_by(*keys))
        for row in session.execute(query):
            slot = totals[tuple(row[:-2])]
            slot[0] += int(row[-2] or 0)
            slot[1] += int(row[-1] or 0)
    return totals


def _metric_value(metric: rules.Metric, sums: dict, suffix: tuple = ()) -> int:
    count = sum(sums.get((t, *suffix), (0, 0))[0] for t in metric.types)
    cents = sum(sums.get((t, *suffix), (0, 0))[1] for t in metric.types)
    return rules.value(metric, count, cents)


# -- briefing ----------------------------------------------------------------------------------

def _all_types(names) -> tuple[str, ...]:
    return tuple(sorted({t for n in names for t in rules.METRICS[n].types}))


def briefing(uow: UnitOfWork, principal: Principal, period=None, day=None, scope=None) -> dict:
    period = _choice("period", period, rules.PERIODS, "day")
    scope = _choice("scope", scope, rules.SCOPES, "me")
    first, last = rules.period_days(period, _day("date", day, _today()))
    p_first, p_last = rules.previous_days(period, first)
    types = _all_types(rules.BRIEFING)
    now = _rollup_sums(uow.session, principal, scope, types, first, last)
    before = _rollup_sums(uow.session, principal, scope, types, p_first, p_last)
    return {
        "period": period, "scope": scope, "start": first.isoformat(), "end": last.isoformat(),
        "previous_start": p_first.isoformat(), "previous_end": p_last.isoformat(),
        "complete": principal.sees_all or scope != "company",
        "figures": [rules.figure(m, _metric_value(m, now), _metric_value(m, before))
                    for m in (rules.METRICS[n] for n in rules.BRIEFING)],
    }


# -- rankings ----------------------------------------------------------------------------------

def rankings(uow: UnitOfWork, principal: Principal, metric=None, period=None, day=None,
             limit=None, scope=None) -> dict:
    name = _choice("metric", metric, rules.RANKED, "contract_amount")
    period = _choice("period", period, rules.PERIODS, "month")
    scope = _choice("scope", scope, ("team", "company"), "company")
    size = page_limit(limit, default=10, maximum=100)
    first, last = rules.period_days(period, _day("date", day, _today()))
    m = rules.METRICS[name]
    sums = _rollup_sums(uow.session, principal, scope, m.types, first, last, by_owner=True)
    owners = {key[1] for key in sums if key[1] != NONE_KEY}
    items = rules.rank({o: _metric_value(m, sums, (o,)) for o in owners}, size)
    for item in items:
        item["value"] = rules.show(m, item["value"])
    return {"metric": name, "measure": m.measure, "period": period, "scope": scope,
            "start": first.isoformat(), "end": last.isoformat(), "items": items}


# -- series ------------------------------------------------------------------------------------

def series(uow: UnitOfWork, principal: Principal, metric=None, start=None, end=None,
           scope=None) -> dict:
    name = _choice("metric", metric, tuple(rules.METRICS), "new_leads")
    scope = _choice("scope", scope, rules.SCOPES, "company")
    last = _day("end", end, _today())
    first = _day("start", start, last - timedelta(days=29))
    if first > last:
        raise _invalid("start", "must not be after end")
    if (last - first).days + 1 > MAX_SERIES_DAYS:
        raise _invalid("start", f"at most {MAX_SERIES_DAYS} days")
    m = rules.METRICS[name]
    sums = _rollup_sums(uow.session, principal, scope, m.types, first, last, by_day=True)
    points, day = [], first
    while day <= last:
        count = sum(sums.get((t, day), (0, 0))[0] for t in m.types)
        cents = sum(sums.get((t, day), (0, 0))[1] for t in m.types)
        points.append({"date": day.isoformat(), "count": count, "amount": from_cents(cents)})
        day += timedelta(days=1)
    return {"metric": name, "measure": m.measure, "scope": scope, "start": first.isoformat(),
            "end": last.isoformat(), "points": points}


# -- forecast ----------------------------------------------------------------------------------

def forecast(uow: UnitOfWork, principal: Principal, start=None, end=None, owner_id=None,
             pipeline_id=None) -> dict:
    """Open opportunities' amount × stage probability, by expected close month."""
    first = _day("start", start, None)
    last = _day("end", end, None)
    if first and last and first > last:
        raise _invalid("start", "must not be after end")
    o, s = OpportunityState, PipelineStage
    probability = sa.func.coalesce(o.probability, s.probability)
    query = (sa.select(o.expected_close_date, probability, sa.func.count(),
                       sa.func.sum(o.amount))
             .select_from(o).outerjoin(s, sa.and_(s.pipeline_id == o.pipeline_id,
                                                  s.stage == o.stage))
             .where(o.status.notin_((WON, LOST)) | o.status.is_(None),
                    _scope_filter(o.owner_id, principal, "company", none_value=None))
             .group_by(o.expected_close_date, probability))
    if owner_id:
        query = query.where(o.owner_id == str(owner_id))
    if pipeline_id:
        query = query.where(o.pipeline_id == str(pipeline_id))
    if first:
        query = query.where(o.expected_close_date >= month_start(first))
    if last:
        query = query.where(o.expected_close_date < next_month(last))
    months: dict[str | None, dict] = {}
    for close, prob, count, amount in uow.session.execute(query):
        key = close.strftime("%Y-%m") if close else None
        slot = months.setdefault(key, {"month": key, "opportunities": 0,
                                       "amount": Decimal("0.00"), "weighted": Decimal("0.00")})
        amount = Decimal(amount or 0)
        slot["opportunities"] += count
        slot["amount"] += amount
        slot["weighted"] += rules.weighted(amount, parse_probability(prob))
    ordered = sorted(months.values(), key=lambda x: (x["month"] is None, x["month"] or ""))
    total = sum((x["weighted"] for x in ordered), Decimal("0.00"))
    amount = sum((x["amount"] for x in ordered), Decimal("0.00"))
    return {"months": [{**x, "amount": f"{x['amount']:.2f}", "weighted": f"{x['weighted']:.2f}"}
                       for x in ordered],
            "total_amount": f"{amount:.2f}", "total_weighted": f"{total:.2f}"}


# -- customer value ----------------------------------------------------------------------------

def hourly_cost_cents() -> int:
    return int(Decimal(os.environ.get("ANALYTICS_SERVICE_HOUR_COST", "200")) * 100)


def churn_multiple() -> float:
    return float(os.environ.get("ANALYTICS_CHURN_MULTIPLE", "1.5"))


def _value_rows(session, principal: Principal, owner_id=None):
    c, v = CustomerState, CustomerValue
    query = (sa.select(v, c.owner_id, c.team_id, c.name)
             .select_from(v).outerjoin(c, c.customer_id == v.customer_id)
             .where(_scope_filter(c.owner_id, principal, "company", none_value=None)))
    if owner_id:
        query = query.where(c.owner_id == str(owner_id))
    return session.execute(query).all()


def _net(row: CustomerValue) -> int:
    return row.revenue_cents - row.refund_cents


def customer_value(uow: UnitOfWork, principal: Principal, owner_id=None, cursor=None,
                   limit=None) -> dict:
    """RFM per customer, the 80/20 share and the pyramid, in the caller's scope.

    ``items`` are ordered by net revenue (highest first) and paged by offset cursor."""
    size = page_limit(limit, default=50, maximum=200)
    try:
        offset = int(cursor or 0)
    except ValueError:
        raise _invalid("cursor", "not a cursor from a previous page") from None
    rows = _value_rows(uow.session, principal, owner_id)
    now = timeutil.now()
    facts = {}
    for value, owner, team, name in rows:
        last = timeutil.aware(value.last_contract_at)
        facts[value.customer_id] = (value, owner, team, name, (
            None if last is None else max(0.0, (now - last).total_seconds() / 86400),
            value.contracts, _net(value)))
    scores = values.rfm({k: f[4] for k, f in facts.items()})
    tiers = values.pyramid({k: f[4][2] for k, f in facts.items()})
    pyramid = {t: {"tier": t, "customers": 0, "revenue": 0}
               for t in (*values.TIERS, values.INACTIVE)}
    for k, t in tiers.items():
        pyramid[t]["customers"] += 1
        pyramid[t]["revenue"] += max(facts[k][4][2], 0)
    ordered = sorted(facts, key=lambda k: (-facts[k][4][2], k))
    items = []
    for k in ordered[offset:offset + size]:
        value, owner, team, name, (recency, frequency, net) = facts[k]
        items.append({"customer_id": k, "name": name, "owner_id": owner, "team_id": team,
                      "recency_days": None if recency is None else int(recency),
                      "frequency": frequency, "monetary": from_cents(net),
                      **scores[k], "tier": tiers[k]})
    return {
        "customers": len(facts),
        "pareto": values.top_share([f[4][2] for f in facts.values()]),
        "pyramid": [{**p, "revenue": from_cents(p["revenue"])} for p in pyramid.values()],
        "items": items,
        "next_cursor": str(offset + size) if offset + size < len(ordered) else None,
    }


def _open_complaints(session, customer_id: str) -> int:
    t = TicketState
    return session.execute(sa.select(sa.func.count()).where(
        t.customer_id == customer_id, t.category == "complaint",
        t.status.notin_(CLOSED_TICKET) | t.status.is_(None))).scalar_one()


def customer_profile(uow: UnitOfWork, principal: Principal, customer_id) -> dict:
    """The 7P profile (docs/analytics.md); 404 outside the caller's scope."""
    session, customer_id = uow.session, str(customer_id or "")
    customer = session.get(CustomerState, customer_id)
    value = session.get(CustomerValue, customer_id)
    owner = customer.owner_id if customer else None
    if (customer is None and value is None) or (
            owner is not None and not principal.can_see_owner(owner)):
        raise NotFound("not_found", f"customer {customer_id} not found",
                       {"customer_id": customer_id})
    value = value or CustomerValue(customer_id=customer_id, **{
        c: 0 for c in ("contracts", "revenue_cents", "cancelled_contracts", "paid_cents",
                       "overdue_cents", "overdue_count", "refund_cents", "returns", "tickets",
                       "complaints", "sla_breaches", "workload_centihours", "follow_ups",
                       "opportunities_won", "opportunities_lost")})
    o = OpportunityState
    open_opps = session.execute(
        sa.select(o.amount, sa.func.coalesce(o.probability, PipelineStage.probability))
        .select_from(o).outerjoin(PipelineStage, sa.and_(
            PipelineStage.pipeline_id == o.pipeline_id, PipelineStage.stage == o.stage))
        .where(o.customer_id == customer_id,
               o.status.notin_((WON, LOST)) | o.status.is_(None))).all()
    pipeline = sum((Decimal(a or 0) for a, _ in open_opps), Decimal("0.00"))
    weighted = sum((rules.weighted(Decimal(a or 0), parse_probability(p))
                    for a, p in open_opps), Decimal("0.00"))
    products = session.execute(sa.select(CustomerProduct).where(
        CustomerProduct.customer_id == customer_id).order_by(
        CustomerProduct.amount_cents.desc(), CustomerProduct.product_key).limit(5)).scalars()
    first, last = timeutil.aware(value.first_contract_at), timeutil.aware(value.last_contract_at)
    interval = values.mean_interval_days(first, last, value.contracts)
    cost = hourly_cost_cents()
    profit = values.profitability(value.revenue_cents, value.refund_cents,
                                  value.workload_centihours, cost)
    billed = value.revenue_cents
    decided = value.opportunities_won + value.opportunities_lost
    lead = session.get(LeadState, customer.lead_id) if customer and customer.lead_id else None
    campaign = session.get(CampaignState, lead.campaign_id) if lead and lead.campaign_id \
        else None
    flag = session.get(ChurnFlag, customer_id)
    since = timeutil.aware(customer.created_at) if customer else first
    return {
        "customer_id": customer_id,
        "profiling": {"name": customer.name if customer else None,
                      "level": customer.level if customer else None,
                      "status": customer.status if customer else None,
                      "owner_id": owner, "team_id": customer.team_id if customer else None,
                      "since": timeutil.iso(since)},
        "persistency": {"contracts": value.contracts,
                        "repeat_buyer": value.contracts >= 2,
                        "first_contract_at": timeutil.iso(first),
                        "last_contract_at": timeutil.iso(last),
                        "mean_interval_days": None if interval is None else round(interval, 1),
                        "relationship_days": None if since is None
                        else max(0, (timeutil.now() - since).days),
                        "cancelled_contracts": value.cancelled_contracts,
                        "churn_risk": bool(flag and flag.active),
                        "churn_reason": flag.reason if flag and flag.active else None},
        "profitability": {"revenue": from_cents(value.revenue_cents),
                          "refunds": from_cents(value.refund_cents),
                          "service_hours": f"{Decimal(value.workload_centihours) / 100:.2f}",
                          "service_cost": from_cents(value.workload_centihours * cost // 100),
                          "contribution": from_cents(profit)},
        "performance": {"paid": from_cents(value.paid_cents),
                        "outstanding": from_cents(max(billed - value.paid_cents, 0)),
                        "collection_rate": None if not billed
                        else f"{Decimal(value.paid_cents) / Decimal(billed):.4f}",
                        "overdue_count": value.overdue_count,
                        "overdue_amount": from_cents(value.overdue_cents),
                        "tickets": value.tickets, "complaints": value.complaints,
                        "open_complaints": _open_complaints(session, customer_id),
                        "sla_breaches": value.sla_breaches, "returns": value.returns},
        "prospecting": {"open_opportunities": len(open_opps), "pipeline": f"{pipeline:.2f}",
                        "weighted": f"{weighted:.2f}",
                        "win_rate": None if not decided else
                        f"{Decimal(value.opportunities_won) / Decimal(decided):.4f}"},
        "product": {"top_products": [
            {"product": p.product_key, "name": p.name, "lines": p.count,
             "amount": from_cents(p.amount_cents)} for p in products]},
        "promotion": {"lead_id": customer.lead_id if customer else None,
                      "lead_source": lead.source if lead else None,
                      "campaign_id": lead.campaign_id if lead else None,
                      "campaign_name": campaign.name if campaign else None,
                      "campaign_channel": campaign.channel if campaign else None,
                      "follow_ups": value.follow_ups,
                      "last_follow_up_at": timeutil.iso(timeutil.aware(
                          value.last_follow_up_at))},
    }


# -- churn -------------------------------------------------------------------------------------

def _complaint_counts(session, customer_ids=None) -> dict[str, int]:
    t = TicketState
    query = (sa.select(t.customer_id, sa.func.count())
             .where(t.category == "complaint", t.customer_id.isnot(None),
                    t.status.notin_(CLOSED_TICKET) | t.status.is_(None))
             .group_by(t.customer_id))
    return dict(session.execute(query).all())


def _assess(session, principal: Principal | None, multiple: float, now: datetime):
    """(customer id, owner, team, name, ChurnCheck, open complaints) for every customer at
    risk (in scope when ``principal`` is given)."""
    complaints = _complaint_counts(session)
    c, v = CustomerState, CustomerValue
    query = (sa.select(v.customer_id, v.first_contract_at, v.last_contract_at, v.contracts,
                       c.owner_id, c.team_id, c.name)
             .select_from(v).outerjoin(c, c.customer_id == v.customer_id)
             .where(sa.or_(v.contracts >= 2, v.customer_id.in_(sorted(complaints)))))
    if principal is not None:
        query = query.where(_scope_filter(c.owner_id, principal, "company", none_value=None))
    found = []
    seen = set()
    for cid, first, last, contracts, owner, team, name in session.execute(query):
        seen.add(cid)
        check = values.churn(now, timeutil.aware(first), timeutil.aware(last), contracts,
                             complaints.get(cid, 0), multiple)
        if check.at_risk:
            found.append((cid, owner, team, name, check, complaints.get(cid, 0)))
    for cid in sorted(set(complaints) - seen):  # complaints from a customer with no contract
        customer = session.get(CustomerState, cid)
        owner = customer.owner_id if customer else None
        if principal is not None and not principal.can_see_owner(owner) and owner is not None:
            continue
        check = values.churn(now, None, None, 0, complaints[cid], multiple)
        found.append((cid, owner, customer.team_id if customer else None,
                      customer.name if customer else None, check, complaints[cid]))
    return sorted(found, key=lambda x: x[0])


def _dump_risk(cid, owner, team, name, check: values.ChurnCheck, complaints: int) -> dict:
    return {"customer_id": cid, "name": name, "owner_id": owner, "team_id": team,
            "reason": check.reason, "open_complaints": complaints,
            "silence_days": None if check.silence_days is None else round(check.silence_days, 1),
            "mean_interval_days": None if check.mean_interval_days is None
            else round(check.mean_interval_days, 1)}


def churn_risk(uow: UnitOfWork, principal: Principal, multiple=None, cursor=None,
               limit=None) -> dict:
    size = page_limit(limit, default=50, maximum=200)
    try:
        factor = churn_multiple() if multiple in (None, "") else float(multiple)
    except ValueError:
        raise _invalid("multiple", "not a number") from None
    if not 1.0 <= factor <= 10.0:
        raise _invalid("multiple", "must be between 1 and 10")
    try:
        offset = int(cursor or 0)
    except ValueError:
        raise _invalid("cursor", "not a cursor from a previous page") from None
    risks = _assess(uow.session, principal, factor, timeutil.now())
    return {"multiple": factor, "total": len(risks),
            "items": [_dump_risk(*r) for r in risks[offset:offset + size]],
            "next_cursor": str(offset + size) if offset + size < len(risks) else None}


def scan_churn(uow: UnitOfWork, multiple: float | None = None) -> dict:
    """The periodic job: announce each new churn-risk episode once, close ended ones.

    Replica-safe: a customer's flag row is created (ON CONFLICT DO NOTHING) and then
    taken by a conditional UPDATE (``active`` false → true); only the run whose update
    changed the row emits ``customer.churn_risk``."""
    session, now = uow.session, timeutil.now()
    factor = churn_multiple() if multiple is None else multiple
    risks = _assess(session, None, factor, now)
    flagged, at_risk = 0, set()
    for cid, owner, team, name, check, complaints in risks:
        at_risk.add(cid)
        session.execute(sa.text(
            "INSERT INTO churn_flags (customer_id, active, episode) VALUES (:c, :f, 0) "
            "ON CONFLICT (customer_id) DO NOTHING").bindparams(
            sa.bindparam("f", type_=sa.Boolean)), {"c": cid, "f": False})
        taken = session.execute(sa.update(ChurnFlag).where(
            ChurnFlag.customer_id == cid, ChurnFlag.active.is_(False)).values(
            active=True, episode=ChurnFlag.episode + 1, reason=check.reason,
            flagged_at=now, cleared_at=None)).rowcount
        if taken != 1:
            continue
        uow.emit(ev.CUSTOMER_CHURN_RISK, {
            **_dump_risk(cid, owner, team, name, check, complaints),
            "last_contract_at": timeutil.iso(timeutil.aware(session.execute(
                sa.select(CustomerValue.last_contract_at).where(
                    CustomerValue.customer_id == cid)).scalar_one_or_none())),
            "flagged_at": timeutil.iso(now)})
        flagged += 1
    active = session.execute(sa.select(ChurnFlag.customer_id).where(
        ChurnFlag.active.is_(True))).scalars().all()
    cleared = 0
    for cid in sorted(set(active) - at_risk):
        cleared += session.execute(sa.update(ChurnFlag).where(
            ChurnFlag.customer_id == cid, ChurnFlag.active.is_(True)).values(
            active=False, cleared_at=now)).rowcount
    return {"at_risk": len(at_risk), "flagged": flagged, "cleared": cleared}
