"""Restart RabbitMQ in the middle of a sustained write load.

The platform's broker is a private node (``tests/faults/infra.py``), restarted with
``rabbitmqctl stop_app`` + ``start_app``: every AMQP connection drops, the durable quorum
queues and their messages survive. Measured from the moment the broker is back: when the
gateway's ``/readyz`` answers 200 (the gateway is connected and every service answered a
``ping`` over RPC, so each service's consumers are back too) and when the first write is
accepted again. Both must be within 10 s; no accepted write is lost, every event is applied
exactly once, and every request meanwhile failed cleanly.
"""
from __future__ import annotations

import time

import httpx

from tests.faults.accounting import assert_exactly_once
from tests.faults.conftest import WORKERS
from tests.faults.load import Load, summary

RECONNECT_LIMIT = 10.0


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_broker_restart_under_load(platform):
    cluster, rabbit = platform.cluster, platform.rabbit
    load = Load(cluster.url, platform.actors, workers=WORKERS).start()
    try:
        time.sleep(3)
        assert load.chains >= 1 or load.accepted_count() > 0, summary(load)
        stopping = time.monotonic()
        rabbit.stop_app()
        stopped = time.monotonic()
        time.sleep(2)                                  # the broker stays down under load
        rabbit.start_app()
        back = time.monotonic()
        ready_after = None
        while time.monotonic() - back < 60:
            if _ready(cluster.url):
                ready_after = time.monotonic() - back
                break
            time.sleep(0.1)
        time.sleep(4)
    finally:
        load.stop()
        platform.remember(load)

    first_write = load.first_success_after(back)
    assert load.unclean == [], load.unclean[:10]
    lost = platform.lost()
    books = platform.settle()
    platform.report("broker_restart", {
        **summary(load), "stop_app_s": round(stopped - stopping, 2),
        "down_s": round(back - stopped, 2),
        "readyz_after_broker_back_s": ready_after and round(ready_after, 2),
        "first_accepted_write_after_broker_back_s": first_write and round(first_write, 2),
        "failed_clean_while_down": load.count(statuses={0, 503, 504}, since=stopping,
                                              until=back + (ready_after or 0)),
        "lost": {k: len(v) for k, v in lost.items()},
        "duplicated_creates": platform.duplicates(), "events": books})
    assert ready_after is not None and ready_after <= RECONNECT_LIMIT, ready_after
    assert first_write is not None and first_write <= RECONNECT_LIMIT, first_write
    assert all(not ids for ids in lost.values()), lost
    assert_exactly_once(books)
