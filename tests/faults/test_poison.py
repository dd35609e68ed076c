"""Poison messages on the real platform: each ends in the dead-letter queue, the messages
behind it are not held up, and the consumer stays alive.

Two kinds, both sent to analytics' queue (it listens to every source): a body that is not
JSON at all, and a well-formed event whose handler fails every time (an amount that is not
a number). The service tier already proves the retry count and the DLQ headers for the
second kind (tests/service/test_analytics_service.py); here it runs next to real writes
made through the gateway, on quorum queues, while the platform is under load.
"""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import kombu

from tests.faults.accounting import assert_exactly_once
from tests.faults.load import Load, summary
from tests.support import publish_event, waited

QUEUE = "analytics.events"


def _publish_raw(amqp_uri: str, body: bytes, routing_key: str) -> None:
    """A message exactly as a broken producer would send it: JSON content type, not JSON."""
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        exchange = kombu.Exchange("leads.events", type="topic", durable=True)
        conn.Producer().publish(body, exchange=exchange, routing_key=routing_key,
                                content_type="application/json", content_encoding="utf-8",
                                delivery_mode=2, serializer=None)


def _failing_event() -> dict:
    return {"id": uuid.uuid4().hex, "type": "opportunity.created", "version": 1,
            "occurred_at": datetime.now(UTC).isoformat(), "source": "sales",
            "actor_id": None, "correlation_id": "poison-test",
            "data": {"opportunity_id": "poison-opp", "customer_id": "poison-customer",
                     "owner_id": None, "name": "毒消息", "amount": "not-a-number",
                     "stage": "初步接洽", "status": "open"}}


def _drain_dlq(amqp_uri: str) -> list[bytes]:
    """Take every message out of analytics' dead-letter queue, raw (no decoding)."""
    bodies = []
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue=f"{QUEUE}.dlq", no_ack=True)) is not None:
            body = message.body
            bodies.append(body if isinstance(body, bytes) else body.encode())
    return bodies


def test_poison_messages_go_to_the_dlq_without_blocking_the_queue(platform):
    cluster = platform.cluster
    load = Load(cluster.url, platform.actors, workers=2).start()
    try:
        malformed = b'{"id": "broken", "type": "lead.created", "data": {'   # cut off
        _publish_raw(cluster.amqp_uri, malformed, "lead.created")
        failing = _failing_event()
        publish_event(cluster.amqp_uri, failing)
        sent = time.monotonic()

        # writes behind the poison are applied while the poison is still being retried
        lead = platform.admin.post("/leads", json={"name": "毒消息之后",
                                                   "company": "排队测试有限公司"})
        assert lead.status_code == 201, lead.text
        lead_id = lead.json()["id"]
        _, lag = waited(lambda: any(
            i.get("subject_id") == lead_id
            for i in platform.admin.get("/analytics/activity", params={"limit": 50})
            .json().get("items", [])), timeout=15, interval=0.1)

        def parked():
            return platform.rabbit.depth(cluster.vhost, f"{QUEUE}.dlq") >= 2

        waited(parked, timeout=60, interval=0.5)
        dead_after = time.monotonic() - sent
    finally:
        load.stop()
        platform.remember(load)

    assert cluster.procs["analytics-0"].poll() is None, cluster.log("analytics-0")
    bodies = _drain_dlq(cluster.amqp_uri)
    assert malformed in bodies
    assert any(failing["id"].encode() in b for b in bodies)
    assert load.unclean == [], load.unclean[:10]
    lost = platform.lost()
    books = platform.settle()
    platform.report("poison", {**summary(load),
                               "write_behind_poison_applied_after_s": round(lag, 2),
                               "poison_dead_lettered_after_s": round(dead_after, 1),
                               "lost": {k: len(v) for k, v in lost.items()},
        "duplicated_creates": platform.duplicates(), "events": books})
    assert lag < 5, lag
    assert all(not ids for ids in lost.values()), lost
    assert_exactly_once(books)
