"""Faults through the whole platform: a crash between commit and publish, a service down."""
from __future__ import annotations

import signal
import time

from tests.e2e.test_business_path import _tap
from tests.support import eventually


def test_event_survives_a_crash_between_commit_and_publish(cluster, make_user):
    _, rep = make_user("sales", prefix="crash")
    tap_conn, tap = _tap(cluster.amqp_uri, "leads", "lead.created")
    # run leads with its relay switched off: commits happen, nothing is published
    for key in [k for k in cluster.procs if k.startswith("leads-")]:
        cluster.stop_process(key)
    cluster.start_service("leads", 0, OUTBOX_RELAY="off")
    cluster.wait_ready()
    created = rep.post("/leads", json={"name": "断电测试", "company": "宁波海曙电子有限公司"})
    assert created.status_code in (200, 201), created.text
    lead_id = created.json()["id"]
    time.sleep(1.0)
    assert tap.get(no_ack=True) is None          # committed, not published
    cluster.stop_process("leads-0", sig=signal.SIGKILL)   # the process dies (kill -9)

    for replica in range(2):                      # restart as usual: the relay catches up
        cluster.start_service("leads", replica)
    cluster.wait_ready()
    message = eventually(lambda: tap.get(no_ack=True), timeout=15)
    assert message.payload["data"]["lead_id"] == lead_id
    assert tap.get(no_ack=True) is None          # and exactly once from this outbox row
    tap_conn.release()


def test_a_service_that_is_down_answers_503_quickly(cluster, admin):
    keys = [k for k in cluster.procs if k.startswith("analytics-")]
    for key in keys:
        cluster.stop_process(key)
    try:
        started = time.monotonic()
        answer = admin.get("/analytics/funnel")
        elapsed = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "service_unavailable"
        assert elapsed < 5
        ready = admin.http.get(f"{cluster.url}/readyz")
        assert ready.status_code == 503
    finally:
        cluster.start_service("analytics", 0)
        cluster.wait_ready()
    assert admin.get("/analytics/funnel").status_code == 200
