"""Use cases of the analytics service: consume an event, rebuild, and the read queries.

Reads are SQL aggregates over the monthly and daily rollups (whole business months
and days) plus the detail rows of at most two partial days at the period's edges,
filtered by the caller's scope: records of owners in ``principal.visible_user_ids``,
and records without an owner (the public pool), which every user sees.
"""
from __future__ import annotations

import time

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.pagination import decode_cursor, encode_cursor
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.analytics import events as ev
from services.analytics import projections
from services.analytics.domain import envelope
from services.analytics.domain import funnel as rules
from services.analytics.domain import period as periods
from services.analytics.domain.envelope import Event, to_cents
from services.analytics.domain.summary import summarize
from services.analytics.models import (
    NONE_KEY,
    DailyEventCount,
    DailyStageCount,
    EventLogEntry,
    MonthlyEventCount,
    MonthlyStageCount,
    Pipeline,
    PipelineStage,
    StageReached,
)
from services.analytics.schemas import FunnelQuery

OVERALL = (ev.LEAD_CREATED, ev.CUSTOMER_CREATED, ev.OPPORTUNITY_CREATED, ev.OPPORTUNITY_WON)


# -- writes ------------------------------------------------------------------------------------

def parse_event(body) -> Event:
    return envelope.parse(body)


def record_event(uow: UnitOfWork, event: Event) -> None:
    """Append the event to the log and apply its projection, in the caller's unit of work."""
    projections.log(uow.session, event)
    projections.apply(uow.session, event)


def record_events(uow: UnitOfWork, batch: list[Event]) -> list[Event]:
    """Apply a batch of deliveries in the caller's unit of work: each event not seen before
    (inbox) is logged and projected in order; the counters all of them touch are written
    once, at the end, in one global order (``Deltas``). Returns the events applied."""
    fresh = uow.first_deliveries([{"id": e.id, "type": e.type} for e in batch], ev.CONSUMER)
    applied = []
    for event in batch:
        if event.id in fresh:
            fresh.discard(event.id)
            applied.append(event)
    projections.log_many(uow.session, applied)      # the log rows: one INSERT
    deltas = projections.Deltas()
    if any(event.type in projections.PIPELINE_EVENTS for event in applied):
        projections.lock_pipelines(uow.session)
    # record by record (a record's own events in their order): concurrent batches lock the
    # records' rows in one order instead of deadlocking; the projections converge in any
    # order across records
    for event in sorted(applied, key=lambda e: e.subject_id or ""):
        projections.apply(uow.session, event, deltas)
    deltas.write(uow.session)
    return applied


def rebuild_projections(uow: UnitOfWork, principal: Principal) -> dict:
    """Empty every projection and replay the log in order, in one transaction.

    On PostgreSQL the log is locked against new rows meanwhile, so an event arriving
    during the rebuild waits and is then applied to the rebuilt state."""
    principal.require_role("admin")
    session, started = uow.session, time.perf_counter()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("LOCK TABLE event_log IN SHARE ROW EXCLUSIVE MODE"))
    projections.reset(session)
    replayed = projections.replay(session)
    return {"events": replayed, "seconds": round(time.perf_counter() - started, 3)}


# -- scope -------------------------------------------------------------------------------------

def _owner_filter(column, principal: Principal, owner_id: str | None, none_value):
    """Visible owners plus ownerless records; narrowed to one owner when asked."""
    conditions = []
    if not principal.sees_all:
        pool = column.is_(None) if none_value is None else column == none_value
        conditions.append(sa.or_(pool, column.in_(sorted(principal.visible_user_ids))))
    if owner_id:
        conditions.append(column == owner_id)
    return sa.and_(sa.true(), *conditions)


def _team_filter(team_column, owner_column, principal: Principal, team_id: str):
    """``team_id`` = the caller's own team: its members and its sub-teams' (the visible
    owners); any other team: the records of that team (always within the scope)."""
    if team_id == principal.team_id and not principal.sees_all:
        return owner_column.in_(sorted(principal.visible_user_ids))
    return team_column == team_id


def _rollups(period: periods.Period, daily, monthly) -> list[tuple]:
    """(rollup model, condition on its ``day``) for every whole month and day range."""
    def within(column, first, last):
        return sa.and_(sa.true(), *([column >= first] if first else []),
                       *([column <= last] if last else []))

    return ([(monthly, within(monthly.day, *r)) for r in period.months]
            + [(daily, within(daily.day, *r)) for r in period.days])


def _add(totals: dict, key, count, cents) -> None:
    previous = totals.get(key, (0, 0))
    totals[key] = (previous[0] + int(count or 0), previous[1] + int(cents or 0))


# -- funnel ------------------------------------------------------------------------------------

def _event_counts(session, principal: Principal, q: FunnelQuery, period: periods.Period,
                  types: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {t: (0, 0) for t in types}
    for d, days in _rollups(period, DailyEventCount, MonthlyEventCount):
        query = (sa.select(d.type, sa.func.sum(d.count), sa.func.sum(d.amount_cents))
                 .where(d.type.in_(types), days,
                        _owner_filter(d.owner_key, principal, q.owner_id, NONE_KEY))
                 .group_by(d.type))
        if q.team_id:
            query = query.where(_team_filter(d.team_key, d.owner_key, principal, q.team_id))
        for type_, count, cents in session.execute(query):
            _add(totals, type_, count, cents)
    e = EventLogEntry
    for start, end in period.edges:  # one range per query: each an index range scan
        query = (sa.select(e.type, sa.func.count(), sa.func.sum(e.amount))
                 .where(e.type.in_(types), e.occurred_at >= start, e.occurred_at < end,
                        _owner_filter(e.owner_id, principal, q.owner_id, None))
                 .group_by(e.type))
        if q.team_id:
            query = query.where(_team_filter(e.team_id, e.owner_id, principal, q.team_id))
        for type_, count, amount in session.execute(query):
            _add(totals, type_, count, to_cents(amount))
    return totals


def _stage_counts(session, principal: Principal, q: FunnelQuery, period: periods.Period,
                  pipeline_id: str) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for d, days in _rollups(period, DailyStageCount, MonthlyStageCount):
        query = (sa.select(d.stage, sa.func.sum(d.count), sa.func.sum(d.amount_cents))
                 .where(d.pipeline_id == pipeline_id, days,
                        _owner_filter(d.owner_key, principal, q.owner_id, NONE_KEY))
                 .group_by(d.stage))
        if q.team_id:
            query = query.where(_team_filter(d.team_key, d.owner_key, principal, q.team_id))
        for stage, count, cents in session.execute(query):
            _add(totals, stage, count, cents)
    r = StageReached
    for start, end in period.edges:
        query = (sa.select(r.stage, sa.func.count(), sa.func.sum(r.amount))
                 .where(r.pipeline_id == pipeline_id, r.opened_at >= start, r.opened_at < end,
                        _owner_filter(r.owner_id, principal, q.owner_id, None))
                 .group_by(r.stage))
        if q.team_id:
            query = query.where(_team_filter(r.team_id, r.owner_id, principal, q.team_id))
        for stage, count, amount in session.execute(query):
            _add(totals, stage, count, to_cents(amount))
    return {stage: value for stage, value in totals.items() if value[0] > 0}


def _main_pipeline(session) -> str | None:
    """No pipeline asked for: the default one if announced, else the one most used."""
    return session.execute(sa.select(Pipeline.pipeline_id).order_by(
        Pipeline.is_default.desc(), Pipeline.opportunities.desc(), Pipeline.pipeline_id)
        .limit(1)).scalar_one_or_none()


def funnel(uow: UnitOfWork, principal: Principal, pipeline_id=None, owner_id=None,
           team_id=None, start=None, end=None) -> dict:
    q = parse(FunnelQuery, {"pipeline_id": pipeline_id, "owner_id": owner_id,
                            "team_id": team_id, "start": start, "end": end})
    session, period = uow.session, periods.split(q.start, q.end)
    pipeline = q.pipeline_id or _main_pipeline(session)
    steps: list[dict] = []
    if pipeline is not None:
        known = [rules.StageInfo(s.stage, s.position, s.probability, s.kind, s.declared)
                 for s in session.execute(sa.select(PipelineStage).where(
                     PipelineStage.pipeline_id == pipeline)).scalars()]
        lost = {s.name for s in known if s.kind == rules.LOST}
        counts = _stage_counts(session, principal, q, period, pipeline)
        steps = rules.stage_steps(rules.order_stages(known), counts, lost)
    totals = _event_counts(session, principal, q, period, OVERALL)
    # lead events carry no team: with another team's filter the lead count is unknown, not
    # zero; for the caller's own team (owners = the visible users) it is known
    own_team = q.team_id == principal.team_id and not principal.sees_all
    leads = None if q.team_id and not own_team else totals[ev.LEAD_CREATED][0]
    return {
        "pipeline_id": pipeline,
        "start": timeutil.iso(q.start), "end": timeutil.iso(q.end),
        "stages": steps,
        "overall": rules.overall(leads, totals[ev.CUSTOMER_CREATED][0],
                                 totals[ev.OPPORTUNITY_CREATED][0],
                                 totals[ev.OPPORTUNITY_WON][0]),
    }


# -- activity feed -----------------------------------------------------------------------------

def dump_activity(entry: EventLogEntry) -> dict:
    return {
        "id": entry.id, "type": entry.type, "occurred_at": timeutil.iso(entry.occurred_at),
        "source": entry.source, "actor_id": entry.actor_id, "owner_id": entry.owner_id,
        "subject_id": entry.subject_id, "summary": summarize(entry.type, entry.data),
        "data": entry.data,
    }


FEED_BRANCHES = 200  # owners per UNION ALL statement (SQLite allows 500 compound terms)


def _feed_ids(session, principal: Principal, after: str | None, size: int) -> list[str]:
    """The ``size`` newest visible event ids before ``after``.

    A scoped reader gets one index range scan per visible owner (and one for ownerless
    events) on ``(owner_id, id)``, each stopping after ``size`` rows, merged newest first:
    the first page costs the same over a million events as over a hundred."""
    e = EventLogEntry

    def newest(condition):
        query = sa.select(e.id).where(condition)
        if after is not None:
            query = query.where(e.id < after)
        return query.order_by(e.id.desc()).limit(size)

    if principal.sees_all:
        return list(session.execute(newest(sa.true())).scalars())
    conditions = [e.owner_id.is_(None)] + [
        e.owner_id == owner for owner in sorted(principal.visible_user_ids)]
    ids: list[str] = []
    for i in range(0, len(conditions), FEED_BRANCHES):
        branches = [sa.select(sub.c.id) for sub in
                    (newest(c).subquery() for c in conditions[i:i + FEED_BRANCHES])]
        merged = (sa.union_all(*branches) if len(branches) > 1 else branches[0]).subquery()
        ids += session.execute(sa.select(merged.c.id).order_by(merged.c.id.desc())
                               .limit(size)).scalars()
    return sorted(ids, reverse=True)[:size]


def activity(uow: UnitOfWork, principal: Principal, cursor=None, limit=None) -> dict:
    """Newest first, keyset on the (time-ordered) event id: ``{items, next_cursor}``."""
    size, session = page_limit(limit), uow.session
    ids = _feed_ids(session, principal, decode_cursor(cursor), size + 1)
    page = ids[:size]
    entries = {entry.id: entry for entry in session.execute(
        sa.select(EventLogEntry).where(EventLogEntry.id.in_(page))).scalars()}
    return {"items": [dump_activity(entries[i]) for i in page],
            "next_cursor": encode_cursor(page[-1]) if len(ids) > size else None}
