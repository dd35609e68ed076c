"""How each event changes the read models: one projector per event type.

``log`` appends an event to ``event_log``; ``apply`` updates the projections for
its type (unknown types change nothing). Projections are a function of the log
alone: ``reset`` + ``replay`` rebuilds them from it. Every projector converges
whatever the order events arrive in (workers run concurrently, retries come back
late): current state is last-writer-wins by ``occurred_at``, reached stages are a
set with the earliest time, counters are sums.
"""
from __future__ import annotations

import functools
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crmkit import timeutil
from crmkit.db import insert_many
from services.analytics import events as ev
from services.analytics.domain.envelope import (
    Event,
    MalformedEvent,
    newer,
    parse_amount,
    parse_probability,
    to_cents,
)
from services.analytics.domain.funnel import LOST, OPEN, WON
from services.analytics.domain.period import month_start
from services.analytics.models import (
    EVENT_COUNTS,
    NONE_KEY,
    PROJECTIONS,
    STAGE_COUNTS,
    Base,
    CampaignState,
    CustomerProduct,
    CustomerState,
    CustomerValue,
    EventLogEntry,
    LeadState,
    OpportunityState,
    Pipeline,
    PipelineStage,
    StageReached,
    TicketState,
)

DEFAULT_PIPELINE = "default"  # key for opportunity events that name no pipeline


# -- the log -----------------------------------------------------------------------------------

def log(session: Session, event: Event) -> EventLogEntry:
    entry = log_entry(event, timeutil.now())
    session.add(entry)
    return entry


def log_many(session: Session, events: list[Event]) -> None:
    """The log rows of a batch of events, in their order, in one INSERT of plain rows: no
    ORM object per event (building one was ≈ 28 % of applying a batch of ``lead.created``),
    no flush; the server numbers them (``seq``)."""
    now = timeutil.now()
    insert_many(session, EventLogEntry.__table__, [log_row(event, now) for event in events])


def log_row(event: Event, logged_at) -> dict:
    """The ``event_log`` row of ``event`` (its columns by name; ``seq`` left to the server).
    An ``Event`` always has its version and data (``envelope.parse``)."""
    return {"id": event.id, "type": event.type, "source": event.source,
            "version": event.version, "occurred_at": event.occurred_at, "logged_at": logged_at,
            "actor_id": event.actor_id, "correlation_id": event.correlation_id,
            "owner_id": event.owner_id, "team_id": event.team_id,
            "subject_id": event.subject_id, "amount": amount_of(event), "data": event.data}


def log_entry(event: Event, logged_at) -> EventLogEntry:
    return EventLogEntry(**log_row(event, logged_at))


def amount_of(event: Event):
    """The money the event's type is counted with (``events.AMOUNT_FIELD``), or None."""
    field = ev.AMOUNT_FIELD.get(event.type)
    return parse_amount(event.data.get(field)) if field else None


def from_log(entry: EventLogEntry) -> Event:
    return Event(id=entry.id, type=entry.type, source=entry.source,
                 occurred_at=timeutil.aware(entry.occurred_at), actor_id=entry.actor_id,
                 correlation_id=entry.correlation_id, version=entry.version,
                 data=entry.data or {})


def apply(session: Session, event: Event, deltas: Deltas | None = None) -> None:
    """Project one event. With ``deltas`` (a batch), its counter changes are added there
    for the caller to write once; without, they are written now."""
    own = deltas is None
    deltas = Deltas() if own else deltas
    projector = PROJECTORS.get(event.type)
    if projector is not None:
        projector(session, event, deltas)
    if event.type in VALUE_PROJECTORS:
        VALUE_PROJECTORS[event.type](session, event)
    if event.type in ev.COUNTED:
        count_event(deltas, event)
    if own:
        deltas.write(session)


def reset(session: Session) -> None:
    for model in PROJECTIONS:
        session.execute(sa.delete(model))


def replay(session: Session, batch: int = 1000) -> int:
    """Apply the whole log again, in the order it was first applied; returns the count."""
    last, applied = 0, 0
    while True:
        entries = session.execute(sa.select(EventLogEntry).where(EventLogEntry.seq > last)
                                  .order_by(EventLogEntry.seq).limit(batch)).scalars().all()
        if not entries:
            return applied
        for entry in entries:
            apply(session, from_log(entry))
        applied += len(entries)
        last = entries[-1].seq
        session.flush()
        session.expunge_all()  # keep memory flat over a long log


# -- inserts and locks ------------------------------------------------------------------------

@functools.cache
def _insert_sql(table_name: str, columns: tuple[str, ...], counter: bool) -> sa.TextClause:
    """``INSERT ... ON CONFLICT`` in the syntax SQLite and PostgreSQL share, compiled once.

    ``counter``: add to ``count`` / ``amount_cents`` on conflict; else do nothing."""
    table = Base.metadata.tables[table_name]
    keys = ", ".join(c.name for c in table.primary_key.columns)
    sql = (f"INSERT INTO {table_name} ({', '.join(columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({keys}) ")
    sql += (f"DO UPDATE SET count = {table_name}.count + excluded.count, "
            f"amount_cents = {table_name}.amount_cents + excluded.amount_cents"
            if counter else "DO NOTHING")
    return sa.text(sql).bindparams(*[sa.bindparam(c, type_=table.c[c].type) for c in columns])


def _increment(session: Session, model, key: dict, count: int, cents: int) -> None:
    """Add to a rollup row, creating it (atomic upsert on SQLite and PostgreSQL)."""
    values = {**key, "count": count, "amount_cents": cents}
    session.execute(_insert_sql(model.__tablename__, tuple(values), True), values)


class Deltas:
    """What one event adds to the shared counters, written last and in one global order.

    Counter rows are shared by many records (a day, an owner, a stage), so concurrent
    transactions on PostgreSQL must lock them in the same order or deadlock; a change
    that cancels out (a reattribution to the same bucket) is not written at all."""

    def __init__(self):
        self.counts: dict[tuple, list[int]] = {}
        self.models: dict[str, type] = {}
        self.opened: dict[str, int] = {}
        self.leads: list[tuple[tuple[str, ...], dict]] = []   # lead upserts, in event order

    def add(self, model, key: dict, count: int, cents: int) -> None:
        self.models[model.__tablename__] = model
        slot = self.counts.setdefault((model.__tablename__, tuple(sorted(key.items()))), [0, 0])
        slot[0] += count
        slot[1] += cents

    def open_in(self, pipeline_id: str) -> None:
        self.opened[pipeline_id] = self.opened.get(pipeline_id, 0) + 1

    def upsert_lead(self, fields: tuple[str, ...], values: dict) -> None:
        self.leads.append((fields, values))

    def write(self, session: Session) -> None:
        _write_leads(session, self.leads)
        for pipeline_id in sorted(self.opened):
            session.execute(sa.update(Pipeline).where(Pipeline.pipeline_id == pipeline_id)
                            .values(opportunities=Pipeline.opportunities
                                    + self.opened[pipeline_id]))
        for (table, key), (count, cents) in sorted(self.counts.items()):
            if count or cents:
                _increment(session, self.models[table], dict(key), count, cents)


def _insert_missing(session: Session, model, values: dict) -> bool:
    """Insert the row unless its key exists; True when this call created it."""
    sql = _insert_sql(model.__tablename__, tuple(values), False)
    return session.execute(sql, values).rowcount == 1


def _locked(session: Session, model, key):
    """The row, locked until commit (PostgreSQL): events of one record apply one at a time."""
    session.flush()  # reloading below must not drop changes not yet written
    return session.get(model, key, with_for_update=True, populate_existing=True)


# -- counters ----------------------------------------------------------------------------------

def business_day(moment: datetime) -> date:
    return timeutil.business_day(timeutil.aware(moment))


def _buckets(moment: datetime) -> tuple[date, date]:
    """The (day, month) rollup buckets of a moment, in the business time zone."""
    day = business_day(moment)
    return day, month_start(day)


def count_event(deltas: Deltas, event: Event) -> None:
    amount = amount_of(event)
    key = {"type": event.type, "owner_key": event.owner_id or NONE_KEY,
           "team_key": event.team_id or NONE_KEY}
    for model, bucket in zip(EVENT_COUNTS, _buckets(event.occurred_at), strict=True):
        deltas.add(model, {**key, "day": bucket}, 1, to_cents(amount))


# -- leads and customers: current state --------------------------------------------------------

def _require(event: Event, key: str) -> str:
    value = event.data.get(key)
    if value in (None, ""):
        raise MalformedEvent(f"{event.type} without {key}")
    return str(value)


def _time_or_none(value) -> datetime | None:
    try:
        return timeutil.parse_time(value)
    except (TypeError, ValueError):
        return None


def _date_or_none(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _copy(row, data: dict, fields: tuple[str, ...]) -> None:
    for name in fields:
        if name in data:
            value = data[name]
            setattr(row, name, None if value is None else str(value))


def _earliest(current: datetime | None, moment: datetime) -> datetime:
    return moment if current is None else min(timeutil.aware(current), moment)


def _state_row(session: Session, model, key: str, event: Event, **extra):
    """The record's current-state row, created if new and locked; (row, created).

    A new row starts "older" than ``event`` itself, so ``_take`` fills it from it."""
    row = _locked(session, model, key)
    if row is not None:
        return row, False
    pk = model.__mapper__.primary_key[0].name
    created = _insert_missing(session, model, {
        pk: key, "created_at": event.occurred_at, "updated_at": event.occurred_at,
        "last_event_id": "", **extra})
    return _locked(session, model, key), created


def _take(row, event: Event) -> bool:
    """True when ``event`` is the newest seen for ``row`` (and records it as such)."""
    if not newer(event.occurred_at, event.id, row.updated_at, row.last_event_id):
        return False
    row.updated_at, row.last_event_id = event.occurred_at, event.id
    return True


LEAD_FIELDS = ("name", "company", "source", "pool", "status", "owner_id", "campaign_id")


LEAD_UPSERT_ROWS = 100      # lead rows per upsert statement at most (SQLite)
LEAD_KEYS = ("lead_id", "created_at", "updated_at", "last_event_id", "converted_at")


@functools.cache
def _lead_conflict(fields: tuple[str, ...]) -> str:
    """What a lead event does to an existing state row (the bulk of the traffic): under its
    row lock, keep the earliest ``created_at``/``converted_at`` and take the event's fields
    when it is the newest seen (last writer wins by ``(occurred_at, id)``, as ``_take``).
    ``fields``: the ones the events carry (``_write_leads`` groups them)."""
    t = LeadState.__tablename__
    newer = (f"(excluded.updated_at > {t}.updated_at OR (excluded.updated_at = "
             f"{t}.updated_at AND excluded.last_event_id > {t}.last_event_id))")
    sets = [f"created_at = CASE WHEN excluded.created_at < {t}.created_at "
            f"THEN excluded.created_at ELSE {t}.created_at END",
            f"converted_at = CASE WHEN excluded.converted_at IS NOT NULL AND "
            f"({t}.converted_at IS NULL OR excluded.converted_at < {t}.converted_at) "
            f"THEN excluded.converted_at ELSE {t}.converted_at END"]
    sets += [f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE {t}.{c} END"
             for c in (*fields, "last_event_id", "updated_at")]  # SET sees the old row
    return "ON CONFLICT (lead_id) DO UPDATE SET " + ", ".join(sets)


@functools.cache
def _lead_upsert(fields: tuple[str, ...], rows: int) -> sa.TextClause:
    """SQLite: one statement for ``rows`` lead events, a ``VALUES`` list (``_lead_conflict``
    for the rows that exist)."""
    t = LeadState.__tablename__
    columns = (*LEAD_KEYS, *fields)
    values = ", ".join("(" + ", ".join(f":{c}_{n}" for c in columns) + ")" for n in range(rows))
    sql = (f"INSERT INTO {t} ({', '.join(columns)}) VALUES {values} "
           + _lead_conflict(fields))
    table = LeadState.__table__
    return sa.text(sql).bindparams(*[sa.bindparam(f"{c}_{n}", type_=table.c[c].type)
                                     for n in range(rows) for c in columns])


def _write_leads(session: Session, upserts: list[tuple[tuple[str, ...], dict]]) -> None:
    """A batch's lead upserts ((fields, values) in event order) in few statements.

    A lead's events keep their order (its n-th event of the batch goes in a round after
    its (n-1)-th: an event carrying fewer fields must not land before an older, fuller
    one); within a round, the rows carrying the same fields go together, in ``lead_id``
    order (one lock order for concurrent batches). PostgreSQL: one statement per round,
    whatever its number of rows (``insert_many``: one array per column) — a ``VALUES`` list
    is a statement of its own for every row count, and each of those, compiled and cached
    with a bind parameter per value, held hundreds of KiB for as long as the process lived.
    SQLite: ``LEAD_UPSERT_ROWS`` per ``VALUES`` statement."""
    seen: dict[str, int] = {}
    rounds: dict[tuple[int, tuple[str, ...]], list[dict]] = {}
    for fields, values in upserts:
        n = seen[values["lead_id"]] = seen.get(values["lead_id"], -1) + 1
        rounds.setdefault((n, fields), []).append(values)
    postgres = session.get_bind().dialect.name == "postgresql"
    for key in sorted(rounds):
        rows = sorted(rounds[key], key=lambda r: r["lead_id"])
        if postgres:
            insert_many(session, LeadState.__table__, rows, on_conflict=_lead_conflict(key[1]))
            continue
        for start in range(0, len(rows), LEAD_UPSERT_ROWS):
            chunk = rows[start:start + LEAD_UPSERT_ROWS]
            session.execute(_lead_upsert(key[1], len(chunk)), {
                f"{k}_{n}": v for n, row in enumerate(chunk) for k, v in row.items()})


def project_lead(session: Session, event: Event, deltas: Deltas) -> None:
    d, at = event.data, event.occurred_at
    fields = tuple(f for f in (*LEAD_FIELDS, "follow_up_deadline") if f in d)
    values = {"lead_id": _require(event, "lead_id"), "created_at": at, "updated_at": at,
              "last_event_id": event.id,
              "converted_at": at if event.type == ev.LEAD_CONVERTED else None,
              **{f: None if d[f] is None else str(d[f]) for f in fields if f in LEAD_FIELDS}}
    if "follow_up_deadline" in d:
        values["follow_up_deadline"] = _time_or_none(d["follow_up_deadline"])
    deltas.upsert_lead(fields, values)


def project_customer(session: Session, event: Event, deltas: Deltas) -> None:
    row, _ = _state_row(session, CustomerState, _require(event, "customer_id"), event)
    row.created_at = _earliest(row.created_at, event.occurred_at)
    if _take(row, event):
        _copy(row, event.data, ("lead_id", "name", "level", "status", "owner_id", "team_id"))


# -- opportunities: current state and the stages reached (the funnel) --------------------------

#: the events that write the shared pipeline and stage rows
PIPELINE_EVENTS = frozenset((*ev.OPPORTUNITY_EVENTS, ev.PIPELINE_CREATED))


def lock_pipelines(session: Session) -> None:
    """PostgreSQL: one transaction at a time writes pipelines and their stages. Every
    opportunity event may insert a pipeline or a discovered stage in the middle of a batch,
    between the locks of its records; two batches doing that in different orders deadlocked.
    Taken first, before any record's lock (the caller's job); held until commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(
            "SELECT pg_advisory_xact_lock(hashtextextended('analytics.pipelines', 0))"))


def _pipeline(session: Session, pipeline_id: str) -> None:
    _insert_missing(session, Pipeline, {"pipeline_id": pipeline_id, "declared": False,
                                        "is_default": False, "opportunities": 0})


def _attribution(row: OpportunityState) -> tuple:
    """What a reached stage is counted under: the opportunity's current owner, team, amount
    and the time it was opened."""
    return (row.owner_id, row.team_id, row.amount, timeutil.aware(row.created_at))


def _bump_stage(deltas: Deltas, reached: StageReached, sign: int) -> None:
    key = {"pipeline_id": reached.pipeline_id, "stage": reached.stage,
           "owner_key": reached.owner_id or NONE_KEY, "team_key": reached.team_id or NONE_KEY}
    for model, bucket in zip(STAGE_COUNTS, _buckets(reached.opened_at), strict=True):
        deltas.add(model, {**key, "day": bucket}, sign, sign * to_cents(reached.amount))


def _reattribute(session: Session, row: OpportunityState, deltas: Deltas) -> None:
    owner_id, team_id, amount, opened_at = _attribution(row)
    for reached in session.execute(sa.select(StageReached).where(
            StageReached.opportunity_id == row.opportunity_id)).scalars():
        _bump_stage(deltas, reached, -1)
        reached.owner_id, reached.team_id = owner_id, team_id
        reached.amount, reached.opened_at = amount, opened_at
        _bump_stage(deltas, reached, +1)


def _reach(session: Session, row: OpportunityState, stage: str, at: datetime,
           deltas: Deltas) -> None:
    """Record that the (locked) opportunity reached ``stage`` at ``at``."""
    owner_id, team_id, amount, opened_at = _attribution(row)
    values = {"opportunity_id": row.opportunity_id, "stage": stage,
              "pipeline_id": row.pipeline_id, "reached_at": at, "opened_at": opened_at,
              "owner_id": owner_id, "team_id": team_id, "amount": amount}
    if _insert_missing(session, StageReached, values):
        _bump_stage(deltas, StageReached(**values), +1)
        return
    reached = session.get(StageReached, (row.opportunity_id, stage))
    reached.reached_at = _earliest(reached.reached_at, at)


def _discover_stage(session: Session, pipeline_id: str, stage: str,
                    probability: float | None, kind: str) -> None:
    """Learn a stage of a pipeline from an opportunity event (never overrides a declaration)."""
    known = session.get(PipelineStage, (pipeline_id, stage))
    if known is None:
        position = session.execute(sa.select(sa.func.count()).select_from(PipelineStage).where(
            PipelineStage.pipeline_id == pipeline_id)).scalar_one()
        _insert_missing(session, PipelineStage, {
            "pipeline_id": pipeline_id, "stage": stage, "position": position,
            "probability": probability, "kind": kind, "declared": False})
        return
    if known.declared:
        return
    s = PipelineStage
    undeclared = sa.and_(s.pipeline_id == pipeline_id, s.stage == stage, s.declared.is_(False))
    # conditional updates, issued only when something changes: no lock otherwise
    if known.probability is None and probability is not None:
        session.execute(sa.update(s).where(undeclared, s.probability.is_(None))
                        .values(probability=probability))
    if kind != OPEN and known.kind != kind:
        session.execute(sa.update(s).where(undeclared).values(kind=kind))


def _stages_in(event: Event) -> list[tuple[str, float | None, str]]:
    """(stage, probability, kind) for each stage the event says the opportunity reached.

    An opportunity's status is the kind of its current stage (open, won, lost)."""
    d = event.data
    status = d.get("status") if d.get("status") in (WON, LOST) else OPEN
    found: dict[str, tuple[str, float | None, str]] = {}
    if d.get("from_stage"):
        found[str(d["from_stage"])] = (str(d["from_stage"]),
                                       parse_probability(d.get("from_probability")), OPEN)
    current = d.get("to_stage") or d.get("stage")
    if current:
        found[str(current)] = (str(current), parse_probability(d.get("probability")), status)
    return list(found.values())


def project_opportunity(session: Session, event: Event, deltas: Deltas) -> None:
    opportunity_id = _require(event, "opportunity_id")
    d, amount = event.data, event.amount  # an unreadable amount fails the event here
    pipeline_id = str(d.get("pipeline_id") or DEFAULT_PIPELINE)
    _pipeline(session, pipeline_id)
    row, created = _state_row(session, OpportunityState, opportunity_id, event,
                              pipeline_id=pipeline_id)
    if created:  # the pipeline's opportunity count picks "the main pipeline"
        deltas.open_in(row.pipeline_id)
    before = _attribution(row)
    row.created_at = _earliest(row.created_at, event.occurred_at)
    if event.type in (ev.OPPORTUNITY_WON, ev.OPPORTUNITY_LOST):
        row.closed_at = _earliest(row.closed_at, event.occurred_at)
    if _take(row, event):
        _copy(row, d, ("customer_id", "name", "stage", "status", "owner_id", "team_id",
                       "lost_reason"))
        if "amount" in d:
            row.amount = amount
        if "probability" in d:
            row.probability = parse_probability(d["probability"])
        if "expected_close_date" in d:
            row.expected_close_date = _date_or_none(d["expected_close_date"])
    if before != _attribution(row):
        _reattribute(session, row, deltas)
    for stage, probability, kind in sorted(_stages_in(event), key=lambda s: s[0]):
        _discover_stage(session, row.pipeline_id, stage, probability, kind)
        _reach(session, row, stage, event.occurred_at, deltas)


def project_pipeline(session: Session, event: Event, deltas: Deltas) -> None:
    d = event.data
    pipeline_id = _require(event, "pipeline_id")
    _pipeline(session, pipeline_id)
    pipeline = _locked(session, Pipeline, pipeline_id)
    pipeline.name = None if d.get("name") is None else str(d["name"])
    pipeline.declared = True
    pipeline.is_default = bool(d.get("is_default", pipeline.is_default))
    stages = d.get("stages") or []
    if not isinstance(stages, list):
        raise MalformedEvent("pipeline.created stages is not a list")
    for i, spec in enumerate(stages):
        if not isinstance(spec, dict) or not spec.get("name"):
            raise MalformedEvent(f"pipeline.created stage {i} has no name")
        probability = parse_probability(spec.get("probability"))
        kind = spec.get("kind") or (WON if probability == 100 else LOST if probability == 0
                                    else OPEN)
        key = (pipeline_id, str(spec["name"]))
        _insert_missing(session, PipelineStage, {
            "pipeline_id": key[0], "stage": key[1], "position": i, "kind": OPEN,
            "declared": True})
        stage = _locked(session, PipelineStage, key)
        stage.position, stage.probability, stage.kind = i, probability, str(kind)
        stage.declared = True


PROJECTORS = {
    **{t: project_lead for t in ev.LEAD_EVENTS},
    **{t: project_customer for t in (*ev.CUSTOMER_EVENTS, *ev.CUSTOMER_STATE_EVENTS,
                                      ev.CUSTOMER_FOLLOWED_UP)},
    **{t: project_opportunity for t in ev.OPPORTUNITY_EVENTS},
    ev.PIPELINE_CREATED: project_pipeline,
}


# -- tickets: current state (open complaints) --------------------------------------------------

def project_ticket(session: Session, event: Event, deltas: Deltas) -> None:
    row, _ = _state_row(session, TicketState, _require(event, "ticket_id"), event)
    row.created_at = _earliest(row.created_at, event.occurred_at)
    if _take(row, event):
        _copy(row, event.data, ("customer_id", "owner_id", "category", "status"))


PROJECTORS.update({t: project_ticket for t in ev.TICKET_EVENTS})


# -- customer value: sums per customer ---------------------------------------------------------

VALUE_COUNTERS = ("contracts", "revenue_cents", "cancelled_contracts", "paid_cents",
                  "overdue_cents", "overdue_count", "refund_cents", "returns", "tickets",
                  "complaints", "sla_breaches", "workload_centihours", "follow_ups",
                  "opportunities_won", "opportunities_lost")
VALUE_MINIMA = ("first_contract_at",)
VALUE_MAXIMA = ("last_contract_at", "last_follow_up_at")


@functools.cache
def _value_sql() -> sa.TextClause:
    t = CustomerValue.__tablename__
    columns = ("customer_id", *VALUE_COUNTERS, *VALUE_MINIMA, *VALUE_MAXIMA)

    def pick(name: str, op: str) -> str:
        return (f"{name} = CASE WHEN {t}.{name} IS NULL OR (excluded.{name} IS NOT NULL AND "
                f"excluded.{name} {op} {t}.{name}) THEN excluded.{name} ELSE {t}.{name} END")

    sets = ([f"{c} = {t}.{c} + excluded.{c}" for c in VALUE_COUNTERS]
            + [pick(c, "<") for c in VALUE_MINIMA] + [pick(c, ">") for c in VALUE_MAXIMA])
    sql = (f"INSERT INTO {t} ({', '.join(columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)}) "
           f"ON CONFLICT (customer_id) DO UPDATE SET {', '.join(sets)}")
    table = CustomerValue.__table__
    return sa.text(sql).bindparams(*[sa.bindparam(c, type_=table.c[c].type) for c in columns])


def add_value(session: Session, customer_id: str, **changes) -> None:
    """Add counters to (and widen the dates of) a customer's value row, creating it."""
    values = {"customer_id": customer_id, **{c: 0 for c in VALUE_COUNTERS},
              **{c: None for c in (*VALUE_MINIMA, *VALUE_MAXIMA)}, **changes}
    session.execute(_value_sql(), values)


def _customer_of(event: Event) -> str | None:
    value = event.data.get("customer_id")
    return None if value in (None, "") else str(value)


def _hours_centi(value) -> int:
    try:
        return to_cents(parse_amount(value))
    except MalformedEvent:
        return 0


def _product_lines(session: Session, customer_id: str, lines) -> None:
    if not isinstance(lines, list):
        return
    totals: dict[str, list] = {}
    for line in lines:
        if not isinstance(line, dict):
            continue
        key = str(line.get("product_id") or line.get("sku") or line.get("name") or "")[:100]
        if not key:
            continue
        slot = totals.setdefault(key, [line.get("name"), 0, 0])
        slot[1] += 1
        slot[2] += to_cents(parse_amount(line.get("amount")))
    for key in sorted(totals):
        name, count, cents = totals[key]
        session.execute(_insert_sql(CustomerProduct.__tablename__,
                                    ("customer_id", "product_key", "name", "count",
                                     "amount_cents"), True),
                        {"customer_id": customer_id, "product_key": key,
                         "name": None if name is None else str(name)[:200], "count": count,
                         "amount_cents": cents})


def project_value(session: Session, event: Event) -> None:
    customer_id, d = _customer_of(event), event.data
    if customer_id is None:
        return
    at = event.occurred_at
    if event.type == ev.CONTRACT_SIGNED:
        signed = _time_or_none(d.get("signed_at")) or at
        add_value(session, customer_id, contracts=1,
                  revenue_cents=to_cents(amount_of(event)), first_contract_at=signed,
                  last_contract_at=signed)
        _product_lines(session, customer_id, d.get("lines"))
    elif event.type == ev.CONTRACT_CANCELLED:
        add_value(session, customer_id, cancelled_contracts=1)
    elif event.type == ev.PAYMENT_RECEIVED:
        add_value(session, customer_id, paid_cents=to_cents(amount_of(event)))
    elif event.type == ev.RECEIVABLE_OVERDUE:
        add_value(session, customer_id, overdue_count=1,
                  overdue_cents=to_cents(amount_of(event)))
    elif event.type == ev.RETURN_REQUESTED:
        add_value(session, customer_id, returns=1)
    elif event.type == ev.RETURN_REFUNDED:
        add_value(session, customer_id, refund_cents=to_cents(amount_of(event)))
    elif event.type == ev.TICKET_CREATED:
        add_value(session, customer_id, tickets=1,
                  complaints=1 if d.get("category") == "complaint" else 0)
    elif event.type == ev.TICKET_SLA_BREACHED:
        add_value(session, customer_id, sla_breaches=1)
    elif event.type == ev.WORK_ORDER_COMPLETED:
        add_value(session, customer_id, workload_centihours=_hours_centi(d.get("workload_hours")))
    elif event.type == ev.CUSTOMER_FOLLOWED_UP:
        add_value(session, customer_id, follow_ups=1,
                  last_follow_up_at=_time_or_none(d.get("happened_at")) or at)
    elif event.type == ev.OPPORTUNITY_WON:
        add_value(session, customer_id, opportunities_won=1)
    elif event.type == ev.OPPORTUNITY_LOST:
        add_value(session, customer_id, opportunities_lost=1)


VALUE_PROJECTORS = {t: project_value for t in (
    ev.CONTRACT_SIGNED, ev.CONTRACT_CANCELLED, ev.PAYMENT_RECEIVED, ev.RECEIVABLE_OVERDUE,
    ev.RETURN_REQUESTED, ev.RETURN_REFUNDED, ev.TICKET_CREATED, ev.TICKET_SLA_BREACHED,
    ev.WORK_ORDER_COMPLETED, ev.CUSTOMER_FOLLOWED_UP, ev.OPPORTUNITY_WON, ev.OPPORTUNITY_LOST)}


def project_merge(session: Session, event: Event, deltas: Deltas) -> None:
    """``customer.merged``: the merged customer's value, products, tickets and open
    opportunities become the survivor's (the producers re-point their records too)."""
    survivor, merged = _require(event, "survivor_id"), _require(event, "merged_id")
    if survivor == merged:
        return
    session.flush()
    value = session.get(CustomerValue, merged, with_for_update=True, populate_existing=True)
    if value is not None:
        add_value(session, survivor, **{c: getattr(value, c) for c in VALUE_COUNTERS},
                  **{c: getattr(value, c) for c in (*VALUE_MINIMA, *VALUE_MAXIMA)})
        session.delete(value)
    products = session.execute(sa.select(CustomerProduct).where(
        CustomerProduct.customer_id == merged).order_by(CustomerProduct.product_key)
        .with_for_update()).scalars().all()
    for product in products:
        session.execute(_insert_sql(CustomerProduct.__tablename__,
                                    ("customer_id", "product_key", "name", "count",
                                     "amount_cents"), True),
                        {"customer_id": survivor, "product_key": product.product_key,
                         "name": product.name, "count": product.count,
                         "amount_cents": product.amount_cents})
        session.delete(product)
    for model in (TicketState, OpportunityState):
        session.execute(sa.update(model).where(model.customer_id == merged)
                        .values(customer_id=survivor))
    session.flush()


PROJECTORS[ev.CUSTOMER_MERGED] = project_merge


# -- campaigns (市场活动): current state; ROI is joined at read time (campaigns.py) -------------

def project_campaign(session: Session, event: Event, deltas: Deltas) -> None:
    """Last writer wins by ``(occurred_at, id)``: a late ``campaign.created`` never undoes a
    newer update. An unreadable budget fails the event (DLQ), like any amount."""
    d = event.data
    budget = parse_amount(d.get("budget")) if "budget" in d else None
    row, _ = _state_row(session, CampaignState, _require(event, "campaign_id"), event)
    row.created_at = _earliest(row.created_at, event.occurred_at)
    if _take(row, event):
        _copy(row, d, ("name", "channel", "owner_id"))
        if "budget" in d:
            row.budget = budget
        for name in ("starts_on", "ends_on"):
            if name in d:
                setattr(row, name, _date_or_none(d[name]))


PROJECTORS.update({t: project_campaign for t in ev.CAMPAIGN_EVENTS})
