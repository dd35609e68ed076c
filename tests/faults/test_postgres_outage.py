"""Stop PostgreSQL for a few seconds under load, then start it again.

The platform's stores live on a private PostgreSQL server (``tests/faults/infra.py``), so
stopping it (``pg_ctl stop -m fast``: every session is cut) touches nobody else. While it is
down every request that needs a store answers 503 ``service_unavailable`` quickly (no 500,
no hanging); once it is back requests succeed again without restarting any service (the
pools drop the dead connections and reconnect), no accepted write is lost and every event
is applied exactly once (events that failed meanwhile are retried, none is dead-lettered).
"""
from __future__ import annotations

import time

from tests.faults.accounting import assert_exactly_once
from tests.faults.conftest import WORKERS
from tests.faults.load import Load, summary
from tests.support import waited

DOWN_FOR = 4.0


def test_postgres_outage_answers_503_then_recovers_without_restarts(platform):
    cluster, pg, admin = platform.cluster, platform.pg, platform.admin
    pids = cluster.pids()
    dlq_before = platform.rabbit.depth(cluster.vhost, "analytics.events.dlq")
    load = Load(cluster.url, platform.actors, workers=WORKERS).start()
    probes = []
    try:
        time.sleep(3)
        pg.stop("fast")
        stopped = time.monotonic()
        while time.monotonic() - stopped < DOWN_FOR:
            started = time.monotonic()
            answer = admin.get("/leads", params={"limit": 1})
            probes.append((answer.status_code, time.monotonic() - started,
                           answer.json().get("error", {}).get("code")))
            time.sleep(0.3)
        pg.start()
        back = time.monotonic()
        _, recovered = waited(lambda: admin.get("/leads", params={"limit": 1})
                              .status_code == 200, timeout=30, interval=0.1)
        time.sleep(4)
    finally:
        if not pg.running():
            pg.start()
        load.stop()
        platform.remember(load)

    first_write = load.first_success_after(back)
    lost = platform.lost()
    books = platform.settle()
    dlq = platform.rabbit.depth(cluster.vhost, "analytics.events.dlq") - dlq_before
    platform.report("postgres_outage", {
        **summary(load), "down_s": round(back - stopped, 2),
        "probe_statuses": sorted({p[0] for p in probes}),
        "probe_slowest_s": round(max(p[1] for p in probes), 2),
        "failed_clean_while_down": load.count(statuses={503, 504}, since=stopped, until=back),
        "reads_ok_after_pg_back_s": round(recovered, 2),
        "first_accepted_write_after_pg_back_s": first_write and round(first_write, 2),
        "analytics_dead_lettered": dlq, "lost": {k: len(v) for k, v in lost.items()},
        "duplicated_creates": platform.duplicates(), "events": books})
    assert probes and all(p[0] == 503 and p[2] == "service_unavailable" for p in probes), probes
    assert max(p[1] for p in probes) < 5, probes
    assert load.unclean == [], load.unclean[:10]
    assert first_write is not None and first_write < 10, first_write
    assert cluster.pids() == pids            # nothing was restarted
    assert all(not ids for ids in lost.values()), lost
    assert dlq == 0
    assert_exactly_once(books)
