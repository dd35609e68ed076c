"""Soak: the mixed write load held for ``CRM_SOAK_SECONDS`` (180 by default, as in CI;
``CRM_SOAK_SECONDS=1800 make test-faults`` for the full 30-minute run).

Every ``CRM_SOAK_SAMPLE_SECONDS`` (5) it samples the resident memory (RSS) of every process
of the platform, the AMQP connections of the platform's vhost and the PostgreSQL sessions
of its databases. What "flat" means here:

- the first ``WARM_UP`` part of the run is not judged (pools fill, caches warm, the
  interpreter settles);
- memory: per process, the highest RSS of the last quarter of the samples is at most the
  highest RSS of the first judged quarter plus 10 % plus 16 MiB;
- AMQP connections: the last quarter's highest count is at most the first judged quarter's
  highest count plus 2;
- PostgreSQL sessions: per store, never more than its service's pool (``max_workers`` + 2
  connections, no overflow: a pool without its bound, or connections opened outside it and
  piling up, break this); in all, the last quarter's highest count at most the first judged
  quarter's plus one per store. A pool opens a connection when more of its workers want one
  at the same moment than it has open — the soak's chains drift into step now and then and
  pass through every service together (a run went 38 → 43 sessions in one sample, +1 in
  each store, then stayed flat), and one store's workers, relay, gauges and timers meet
  now and then (a run went 6 → 8 in analytics alone near its end) — so one store's pool may
  grow by more than one, within its bound;
- errors: zero — every request of the soak is answered 2xx.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.cluster import SERVICES
from tests.faults.accounting import assert_exactly_once
from tests.faults.conftest import WORKERS
from tests.faults.load import ACCEPTED, Load, summary

SECONDS = float(os.environ.get("CRM_SOAK_SECONDS", "180"))
SAMPLE_EVERY = float(os.environ.get("CRM_SOAK_SAMPLE_SECONDS", "5"))
WARM_UP = 0.2
MIB = 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def sample(platform) -> dict:
    cluster = platform.cluster
    # the services' connections only: autovacuum workers show in pg_stat_activity with the
    # database they are vacuuming (each outbox_sent archive is an insert-only table that
    # autovacuum visits now and then), up to autovacuum_max_workers at a time
    by_database = dict(platform.pg.query(
        "SELECT datname, count(*) FROM pg_stat_activity WHERE datname LIKE 'crm_faults_%%' "
        "AND backend_type = 'client backend' GROUP BY datname"))
    return {"at": time.monotonic(),
            "rss": {key: rss(pid) for key, pid in cluster.pids().items()},
            "amqp": len(platform.rabbit.connections(cluster.vhost)),
            "pg": sum(by_database.values()), "pg_by_database": by_database}


@pytest.mark.timeout(SECONDS + 600)   # the run itself, then the books (the default: 300 s)
def test_soak_memory_and_connections_stay_flat_without_errors(platform):
    cluster = platform.cluster
    samples = []
    load = Load(cluster.url, platform.actors, workers=WORKERS).start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < SECONDS:
            samples.append(sample(platform))
            time.sleep(SAMPLE_EVERY)
        samples.append(sample(platform))
    finally:
        load.stop()
        platform.remember(load)

    judged = [s for s in samples if s["at"] - started >= SECONDS * WARM_UP]
    quarter = max(1, len(judged) // 4)
    first, last = judged[:quarter], judged[-quarter:]
    memory = {}
    for key in samples[-1]["rss"]:
        before = max(s["rss"].get(key, 0) for s in first)
        after = max(s["rss"].get(key, 0) for s in last)
        memory[key] = {"first_mib": round(before / MIB, 1), "last_mib": round(after / MIB, 1),
                       "limit_mib": round((before * 1.10 + 16 * MIB) / MIB, 1)}
    amqp = (max(s["amqp"] for s in first), max(s["amqp"] for s in last))
    pg = (max(s["pg"] for s in first), max(s["pg"] for s in last))
    # each store's sessions: (max of the first judged quarter, of the last, of the whole run)
    stores = sorted({name for s in samples for name in s["pg_by_database"]})
    pg_by_database = {name: tuple(max(s["pg_by_database"].get(name, 0) for s in part)
                                  for part in (first, last, samples)) for name in stores}
    pool = cluster.max_workers + 2          # crmkit.uow: each replica's pool, no overflow
    errors = {f"{op} {status}": n for (op, status), n in load.statuses.items()
              if status not in ACCEPTED}
    books = platform.settle()
    platform.report("soak", {
        **summary(load), "seconds": SECONDS, "samples": len(samples),
        "writes_per_s": round(load.accepted_count() / SECONDS, 1), "rss": memory,
        "amqp_connections_first_last": amqp, "pg_sessions_first_last": pg,
        "pg_sessions_by_database": pg_by_database,
        "pg_sessions_series": [s["pg"] for s in samples],
        "pg_sessions_max": max(s["pg"] for s in samples), "pg_pool_size": pool,
        "errors": errors, "events": books})

    assert load.accepted_count() > 0
    assert errors == {}, errors
    assert load.unclean == [], load.unclean[:10]
    for key, m in memory.items():
        assert m["last_mib"] <= m["limit_mib"], (key, m)
    assert amqp[1] <= amqp[0] + 2, amqp
    assert len(stores) == len(SERVICES), pg_by_database
    for name, (_, _, most) in pg_by_database.items():
        assert most <= pool, (name, most, pool)
    assert pg[1] <= pg[0] + len(stores), (pg, pg_by_database)
    lost = platform.lost()
    assert all(not ids for ids in lost.values()), lost
    assert_exactly_once(books)
