"""Benchmark: analytics reports at scale on PostgreSQL.

Creates a throw-away PostgreSQL analytics store (the service's Alembic revisions), bulk-loads
the event log with COPY — 1M ``lead.created`` (a third claimed: +333k ``lead.claimed``),
100k ``customer.created``, 200k ``opportunity.created`` and 300k ``contract.signed`` spread
over 2026 across 200 reps in 20 teams — then builds the read models the way a rebuild would
leave them, set-based (daily/monthly rollups by ``INSERT … SELECT … GROUP BY`` from the
log; the stages reached by each opportunity by COPY), and times the funnel, the briefing and
the rankings as the RPC runs them (p50/p95 over ``--calls`` calls each) for an administrator
(sees all), a manager (10 reps) and a rep. Writes the section "## Analytics at scale" of
docs/benchmarks.md and leaves the rest alone.

    python -m bench.analytics_scale                          # full size
    python -m bench.analytics_scale --scale 0.1 --no-write   # a tenth, quick look
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
import sqlalchemy as sa

from bench.report import machine, replace_section
from crmkit.principal import Principal
from crmkit.uow import Store
from services.analytics import handlers, insights
from services.analytics.models import Base
from tests.pg import ADMIN_DSN, create_database, drop_database

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "analytics" / "migrations"
REPS = [f"rep{i:03d}" for i in range(200)]
TEAM = {rep: f"team{i // 10:02d}" for i, rep in enumerate(REPS)}
STAGES = [("初步接洽", 10), ("需求确认", 30), ("方案报价", 50), ("谈判审核", 70),
          ("赢单", 100)]
YEAR0 = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = 320 * 86400  # Jan 1 .. mid November
COLUMNS = ("id", "type", "source", "version", "occurred_at", "logged_at", "owner_id",
           "team_id", "subject_id", "amount", "data")


class Log:
    def __init__(self, cur):
        self.cur, self.buffer, self.n, self.rows = cur, io.StringIO(), 0, 0

    def add(self, type_, source, at: datetime, owner, subject, amount, data) -> None:
        self.n += 1
        stamp = at.isoformat()
        self.buffer.write("\t".join((
            f"{int(at.timestamp() * 1000):012x}{self.n:020x}", type_, source, "1", stamp, stamp,
            owner or "\\N", TEAM.get(owner, "\\N") if owner else "\\N", subject,
            amount or "\\N", json.dumps(data, ensure_ascii=False).replace("\\", "\\\\"),
        )) + "\n")
        self.rows += 1
        if self.rows % 100_000 == 0:
            self.flush()

    def flush(self) -> None:
        self.buffer.seek(0)
        self.cur.copy_expert(f"COPY event_log ({', '.join(COLUMNS)}) FROM STDIN", self.buffer)
        self.buffer = io.StringIO()


def load(store: Store, scale: float, seed: int = 11) -> dict:
    rng = random.Random(seed)
    counts = {k: int(v * scale) for k, v in (("leads", 1_000_000), ("customers", 100_000),
                                             ("opportunities", 200_000),
                                             ("contracts", 300_000))}
    started = time.monotonic()
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        log = Log(cur)

        def when():
            return YEAR0 + timedelta(seconds=rng.randrange(SPAN))

        for i in range(counts["leads"]):
            at, lead = when(), f"L{i}"
            log.add("lead.created", "leads", at, None, lead, None,
                    {"lead_id": lead, "owner_id": None, "source": "expo", "status": "new"})
            if i % 3 == 0:
                owner = rng.choice(REPS)
                log.add("lead.claimed", "leads", at + timedelta(hours=2), owner, lead, None,
                        {"lead_id": lead, "owner_id": owner, "status": "following"})
        for i in range(counts["customers"]):
            owner, cid = rng.choice(REPS), f"C{i}"
            log.add("customer.created", "customers", when(), owner, cid, None,
                    {"customer_id": cid, "owner_id": owner, "team_id": TEAM[owner]})
        stages = io.StringIO()
        for i in range(counts["opportunities"]):
            owner, oid, at = rng.choice(REPS), f"O{i}", when()
            amount = f"{rng.randrange(10_000, 2_000_000)}.00"
            reached = rng.choice((0, 0, 0, 1, 1, 2, 3, 4))
            log.add("opportunity.created", "sales", at, owner, oid, amount,
                    {"opportunity_id": oid, "owner_id": owner, "team_id": TEAM[owner],
                     "pipeline_id": "p1", "amount": amount, "stage": STAGES[reached][0],
                     "probability": STAGES[reached][1], "status": "open"})
            for k in range(reached + 1):
                stages.write("\t".join((oid, STAGES[k][0], "p1", at.isoformat(), at.isoformat(),
                                        owner, TEAM[owner], amount)) + "\n")
        for i in range(counts["contracts"]):
            owner, kid = rng.choice(REPS), f"K{i}"
            total = f"{rng.randrange(5_000, 1_000_000)}.00"
            log.add("contract.signed", "sales", when(), owner, kid, total,
                    {"contract_id": kid, "customer_id": f"C{rng.randrange(counts['customers'])}",
                     "owner_id": owner, "team_id": TEAM[owner], "total": total})
        log.flush()
        stages.seek(0)
        cur.copy_expert("COPY stages_reached (opportunity_id, stage, pipeline_id, reached_at, "
                        "opened_at, owner_id, team_id, amount) FROM STDIN", stages)
        cur.execute("INSERT INTO pipelines (pipeline_id, name, declared, is_default, "
                    "opportunities) VALUES ('p1', '默认流程', true, true, %s)",
                    (counts["opportunities"],))
        for position, (stage, probability) in enumerate(STAGES):
            cur.execute("INSERT INTO pipeline_stages VALUES ('p1', %s, %s, %s, %s, true)",
                        (stage, position, probability, "won" if probability == 100 else "open"))
        tz = "Asia/Shanghai"
        for table, bucket in (("daily_event_counts", f"(occurred_at AT TIME ZONE '{tz}')::date"),
                              ("monthly_event_counts",
                               f"date_trunc('month', occurred_at AT TIME ZONE '{tz}')::date")):
            cur.execute(f"INSERT INTO {table} (type, day, owner_key, team_key, count, "
                        f"amount_cents) SELECT type, {bucket}, coalesce(owner_id, ''), "
                        f"coalesce(team_id, ''), count(*), "
                        f"coalesce(sum(amount * 100), 0)::bigint FROM event_log "
                        f"GROUP BY 1, 2, 3, 4")
        for table, bucket in (("daily_stage_counts", f"(opened_at AT TIME ZONE '{tz}')::date"),
                              ("monthly_stage_counts",
                               f"date_trunc('month', opened_at AT TIME ZONE '{tz}')::date")):
            cur.execute(f"INSERT INTO {table} (pipeline_id, day, stage, owner_key, team_key, "
                        f"count, amount_cents) SELECT pipeline_id, {bucket}, stage, "
                        f"coalesce(owner_id, ''), coalesce(team_id, ''), count(*), "
                        f"coalesce(sum(amount * 100), 0)::bigint FROM stages_reached "
                        f"GROUP BY 1, 2, 3, 4, 5")
        raw.commit()
        # as autovacuum would have by now on a live store: statistics, and the visibility map
        # that lets the covering index of the log answer edge days without the heap
        raw.autocommit = True
        cur.execute("VACUUM ANALYZE")
        raw.autocommit = False
        cur.execute("SELECT count(*) FROM event_log")
        events = cur.fetchone()[0]
    finally:
        raw.close()
    return {"events": events, "seconds": time.monotonic() - started, **counts}


def timed(store: Store, calls: int, fn, principal: Principal, **kwargs) -> tuple:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        with store.unit() as uow:
            fn(uow, principal, **kwargs)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return (statistics.median(timings),
            timings[min(len(timings) - 1, int(0.95 * len(timings)))])


def _reusable(name: str) -> str:
    """The URL of database ``name`` on the local PostgreSQL, created if missing."""
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


def _loaded(store: Store) -> dict | None:
    """What an earlier ``--keep`` run loaded into this store (None: empty)."""
    with store.engine.connect() as conn:
        counts = dict(conn.execute(sa.text(
            "SELECT type, count(*) FROM event_log WHERE type IN ('lead.created', "
            "'customer.created', 'opportunity.created', 'contract.signed') GROUP BY type")).all())
        if not counts:
            return None
        events = conn.execute(sa.text("SELECT count(*) FROM event_log")).scalar_one()
    return {"events": events, "leads": counts.get("lead.created", 0),
            "customers": counts.get("customer.created", 0),
            "opportunities": counts.get("opportunity.created", 0),
            "contracts": counts.get("contract.signed", 0), "seconds": float("nan")}


def run(scale: float, calls: int, write: bool, keep: str | None = None) -> str:
    url = _reusable(keep) if keep else create_database("crm_bench_analytics")
    store = Store("analytics", Base.metadata, MIGRATIONS, url, "memory://", relay=False)
    try:
        store.migrate()
        loaded = (_loaded(store) if keep else None) or load(store, scale)
        admin = Principal(user_id="admin", role="admin")
        manager = Principal(user_id="rep000", role="manager", team_id="team00",
                            data_scope="team", visible_user_ids=frozenset(REPS[:10]))
        rep = Principal(user_id="rep001", role="sales", data_scope="own",
                        visible_user_ids=frozenset({"rep001"}))
        quarter = {"start": "2026-07-01T00:00:00+08:00", "end": "2026-10-01T00:00:00+08:00"}
        partial = {"start": "2026-07-15T10:00:00+08:00", "end": "2026-10-20T18:30:00+08:00"}
        day = date(2026, 9, 17).isoformat()
        cases = [
            ("funnel, a quarter", admin, handlers.funnel, quarter),
            ("funnel, a quarter", manager, handlers.funnel, quarter),
            ("funnel, partial days at both edges", admin, handlers.funnel, partial),
            ("briefing, month, company", admin, insights.briefing,
             {"period": "month", "day": day, "scope": "company"}),
            ("briefing, week, team", manager, insights.briefing,
             {"period": "week", "day": day, "scope": "team"}),
            ("briefing, day, me", rep, insights.briefing,
             {"period": "day", "day": day, "scope": "me"}),
            ("rankings, contract amount, month", admin, insights.rankings,
             {"metric": "contract_amount", "period": "month", "day": day}),
            ("rankings, new customers, month, team", manager, insights.rankings,
             {"metric": "new_customers", "period": "month", "day": day}),
            ("series, 90 days", admin, insights.series,
             {"metric": "contract_amount", "start": "2026-06-20", "end": "2026-09-17"}),
        ]
        who = {id(admin): "admin (all)", id(manager): "manager (10 reps)",
               id(rep): "rep (own)"}
        rows = []
        for name, principal, fn, kwargs in cases:
            p50, p95 = timed(store, calls, fn, principal, **kwargs)
            rows.append(f"| {name} | {who[id(principal)]} | {p50:.1f} | {p95:.1f} |")
    finally:
        store.engine.dispose()
        if not keep:
            drop_database(url)
    command = ("python -m bench.analytics_scale" + (f" --scale {scale:g}" if scale != 1 else "")
               + (f" --keep {keep}" if keep else ""))
    how = (f"loaded and rolled up in {loaded['seconds']:.0f} s (COPY + set-based rollups)."
           if loaded["seconds"] == loaded["seconds"] else "loaded by an earlier `--keep` run.")
    body = "\n".join([
        f"Produced by `{command}` (`bench/analytics_scale.py`); "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; PostgreSQL, one connection, "
        "the handlers called in-process (no broker, no HTTP).",
        "",
        f"Store: {loaded['events']:,} events in the log ({loaded['leads']:,} leads, a third "
        f"claimed; {loaded['customers']:,} customers; {loaded['opportunities']:,} "
        f"opportunities; {loaded['contracts']:,} contracts) over 2026, 200 reps in 20 teams; "
        f"{how}",
        "",
        f"| report | caller | p50 ms | p95 ms ({calls} calls) |",
        "|---|---|---:|---:|",
        *rows,
        "",
        "The edge days are index-only scans of the log's covering `(type, occurred_at)` index "
        "(analytics migration 0005). Reads are sums over the monthly and daily rollups plus at "
        "most two partial edge days "
        "of detail rows, so they do not grow with the size of the log.",
    ])
    if write:
        replace_section("Analytics at scale", body)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", metavar="DATABASE",
                        help="load into (or reuse an earlier load in) this database and keep "
                             "it, to iterate on the queries without reloading")
    args = parser.parse_args()
    print(run(args.scale, args.calls, not args.no_write, args.keep))


if __name__ == "__main__":
    main()
