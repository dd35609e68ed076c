"""kill -9 each service, then the gateway, in the middle of a sustained mixed write load.

Each process is killed without warning (no clean-up, no finishing of workers in flight),
left dead for a moment under load, and started again. Afterwards: every write that got a
2xx is in its service's store, every committed event was applied exactly once by
analytics, and every request that failed meanwhile failed cleanly (503/504, or no
connection while the gateway itself was dead), never with a 500.
"""
from __future__ import annotations

import time

from tests.faults.accounting import assert_exactly_once, event_books, queue_stats
from tests.faults.conftest import WORKERS
from tests.faults.load import ACCEPTED, Load, summary

VICTIMS = ["leads-0", "customers-0", "sales-0", "service_desk-0", "analytics-0", "gateway"]
UNDER_LOAD = 2.0    # seconds of load before each kill
DEAD_FOR = 1.0      # seconds a process stays dead under load


def test_kill_9_each_process_under_load_loses_nothing(platform):
    cluster = platform.cluster
    queue_before = queue_stats(platform)
    applied_before = event_books(platform.urls, platform.unroutable)["logged"]
    load = Load(cluster.url, platform.actors, workers=WORKERS).start()
    outages = []
    try:
        deadline = time.monotonic() + 30
        while load.chains < WORKERS and time.monotonic() < deadline:
            time.sleep(0.2)
        assert load.chains >= 1, summary(load)
        for key in VICTIMS:
            time.sleep(UNDER_LOAD)
            accepted_before = load.accepted_count()
            killed = time.monotonic()
            cluster.kill(key)
            time.sleep(DEAD_FOR)
            cluster.restart(key)
            cluster.wait_ready(60)
            ready = time.monotonic()
            outages.append({
                "process": key,
                "ready_after_kill_s": round(ready - killed, 2),
                "failed_clean": load.count(statuses={0, 503, 504}, since=killed, until=ready),
                "accepted_meanwhile": load.accepted_count() - accepted_before,
                "ready_at": ready,
            })
        time.sleep(UNDER_LOAD)
    finally:
        load.stop()
        platform.remember(load)

    for outage in outages:
        ready = outage.pop("ready_at")
        outage["first_accepted_after_ready_s"] = _round(load.first_success_after(ready))
    figures = summary(load)
    assert load.unclean == [], load.unclean[:10]
    assert sum(load.statuses[k] for k in load.statuses if k[1] in ACCEPTED) > 0
    lost = platform.lost()
    books = platform.settle()
    queue_after = queue_stats(platform)
    queue = {k: queue_after[k] - queue_before[k] for k in queue_after}
    applied = books["logged"] - applied_before
    platform.report("kill_9", {
        **figures, "outages": outages,
        "lost": {k: len(v) for k, v in lost.items()},
        "duplicated_creates": platform.duplicates(),
        "events": books, "analytics_queue": queue, "events_applied": applied,
        "duplicates_absorbed_by_inbox": queue["ack"] - applied})
    assert all(not ids for ids in lost.values()), lost
    assert_exactly_once(books)
    for outage in outages:           # every process came back and took writes again
        assert outage["first_accepted_after_ready_s"] is not None, outage


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
