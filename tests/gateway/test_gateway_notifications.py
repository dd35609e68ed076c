"""Notifications: events on the real broker -> inbox rows -> polling and the SSE stream."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import fastapi.routing
import kombu
import pytest
import redis
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, func, select

from crmkit.ids import new_id
from gateway.models import Notification
from gateway.notifications import RULES, build_notification
from tests.gateway.conftest import REDIS_URL
from tests.support import eventually


def envelope(event_type: str, data: dict, *, actor_id: str | None = "someone-else",
             event_id: str | None = None) -> dict:
    return {"id": event_id or new_id(), "type": event_type, "version": 1,
            "occurred_at": "2025-03-01T08:00:00+00:00", "source": event_type.split(".")[0],
            "actor_id": actor_id, "correlation_id": "req-1", "data": data}


def publish(amqp_uri: str, exchange: str, routing_key: str, body: dict | bytes) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False)
    target = kombu.Exchange(exchange, type="topic", durable=True)
    with kombu.Connection(amqp_uri) as conn:
        conn.Producer().publish(payload, exchange=target, routing_key=routing_key,
                                declare=[target], content_type="application/json",
                                content_encoding="utf-8", delivery_mode=2)



def consumed(event_type: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("gateway_events_consumed_total",
                                     {"type": event_type, "outcome": outcome}) or 0.0


def dead_lettered(label: str) -> float:
    return REGISTRY.get_sample_value("gateway_events_dead_lettered_total", {"type": label}) or 0.0


def take_from_queue(amqp_uri: str, queue: str, body_check: Callable[[str], bool]) -> Any:
    """Take messages off ``queue`` until one whose (text) body passes ``body_check``."""
    with kombu.Connection(amqp_uri) as conn:
        while True:
            message = conn.default_channel.basic_get(queue=queue, no_ack=True)
            if message is None:
                return None
            body = message.body
            if body_check(body.decode() if isinstance(body, bytes) else body):
                return message


def inbox_rows(settings, event_id: str) -> int:
    engine = create_engine(settings.gateway_database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Notification).where(
                Notification.event_id == event_id))
    finally:
        engine.dispose()


def read_event(lines) -> dict[str, str]:
    """The next SSE event (comments under the key ':'), as {field: value}."""
    event: dict[str, str] = {}
    for line in lines:
        if line == "":
            if event:
                return event
            continue
        name, _, value = line.partition(":")
        event[name or ":"] = value.lstrip(" ")
    raise AssertionError("stream ended")


def test_rules_table():
    assert {t: (r.exchange, r.recipient) for t, r in RULES.items()} == {
        "lead.assigned": ("leads.events", "owner_id"),
        "lead.returned_to_pool": ("leads.events", "previous_owner_id"),
        "lead.deadline_warning": ("leads.events", "owner_id"),
        "lead.transferred": ("leads.events", "owner_id"),
        "customer.created": ("customers.events", "owner_id"),
        "follow_up_plan.due": ("customers.events", "owner_id"),
        "ticket.created": ("service_desk.events", "assignee_id"),
        "ticket.assigned": ("service_desk.events", "assignee_id"),
        "ticket.sla_warning": ("service_desk.events", "assignee_id"),
        "ticket.sla_breached": ("service_desk.events", "assignee_id"),
        "ticket.sla_escalated": ("service_desk.events", "manager_id"),
        "opportunity.won": ("sales.events", "owner_id"),
        "contract.approval_requested": ("sales.events", "approver_id"),
        "receivable.overdue": ("sales.events", "owner_id"),
        "customer.churn_risk": ("analytics.events", "owner_id"),
    }
    assert RULES["lead.assigned"].title == "线索已分配给你"
    assert RULES["lead.returned_to_pool"].title == "线索已退回公海"
    assert RULES["customer.created"].title == "新客户已创建"
    built = build_notification(envelope("lead.returned_to_pool", {
        "lead_id": "L1", "name": "李娜", "company": "云栖科技", "previous_owner_id": "u1",
        "reason": "overdue"}))
    assert built["user_id"] == "u1" and "李娜 · 云栖科技" in built["body"]
    assert "超期" in built["body"]
    assert build_notification(envelope("lead.assigned", {"owner_id": None})) is None
    assert build_notification(envelope("lead.assigned", {"owner_id": "u1"},
                                       actor_id="u1")) is None
    assert build_notification(envelope("lead.claimed", {"owner_id": "u1"})) is None


def test_a_redelivered_event_notifies_once_and_streams(http, live_gateway, make_user):
    rep = make_user("sales")
    event = envelope("lead.assigned", {"lead_id": "L1", "name": "李娜",
                                       "company": "杭州云栖科技有限公司", "owner_id": rep.id})
    stored, duplicates = consumed("lead.assigned", "stored"), consumed("lead.assigned",
                                                                       "duplicate")
    with http.stream("GET", "/api/v1/notifications/stream",
                     params={"access_token": rep.token}, timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        hello = read_event(lines)
        assert hello[":"] == "connected" and hello["retry"] == "3000"

        publish(live_gateway.settings.amqp_uri, "leads.events", "lead.assigned", event)
        publish(live_gateway.settings.amqp_uri, "leads.events", "lead.assigned", event)
        pushed = read_event(lines)
    item = json.loads(pushed["data"])
    assert pushed["id"] == item["id"]
    assert item["type"] == "lead.assigned" and item["title"] == "线索已分配给你"
    assert item["event_id"] == event["id"] and item["data"]["lead_id"] == "L1"

    eventually(lambda: consumed("lead.assigned", "duplicate") == duplicates + 1)
    assert consumed("lead.assigned", "stored") == stored + 1
    assert inbox_rows(live_gateway.settings, event["id"]) == 1
    inbox = http.get("/api/v1/notifications", headers=rep.headers).json()
    assert [n["id"] for n in inbox["items"]] == [item["id"]]
    assert inbox["items"][0]["read_at"] is None and inbox["next_cursor"] is None
    assert "李娜" in inbox["items"][0]["body"]


def test_read_state_and_privacy(http, live_gateway, make_user):
    rep, other = make_user("sales"), make_user("sales")
    events = [envelope("customer.created", {"customer_id": f"C{i}", "name": f"客户{i}",
                                            "owner_id": rep.id}) for i in range(3)]
    for event in events:
        publish(live_gateway.settings.amqp_uri, "customers.events", "customer.created", event)
    items = eventually(lambda: len(http.get("/api/v1/notifications", headers=rep.headers)
                                   .json()["items"]) == 3
                       and http.get("/api/v1/notifications", headers=rep.headers).json()["items"])
    assert all(n["title"] == "新客户已创建" for n in items)
    first = items[0]["id"]
    assert http.post(f"/api/v1/notifications/{first}/read",
                     headers=other.headers).status_code == 404
    assert http.get("/api/v1/notifications", headers=other.headers).json()["items"] == []
    marked = http.post(f"/api/v1/notifications/{first}/read", headers=rep.headers)
    assert marked.status_code == 200 and marked.json()["read_at"] is not None
    unread = http.get("/api/v1/notifications", headers=rep.headers,
                      params={"unread": "true"}).json()["items"]
    assert first not in [n["id"] for n in unread] and len(unread) == 2
    page = http.get("/api/v1/notifications", headers=rep.headers, params={"limit": 2}).json()
    rest = http.get("/api/v1/notifications", headers=rep.headers,
                    params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert http.post("/api/v1/notifications/read-all",
                     headers=rep.headers).json() == {"marked": 2}
    assert http.get("/api/v1/notifications", headers=rep.headers,
                    params={"unread": "true"}).json()["items"] == []


def test_own_actions_and_unmapped_events_are_skipped(http, live_gateway, make_user):
    rep = make_user("sales")
    skipped = consumed("lead.assigned", "skipped")
    publish(live_gateway.settings.amqp_uri, "leads.events", "lead.assigned",
            envelope("lead.assigned", {"lead_id": "L1", "owner_id": rep.id}, actor_id=rep.id))
    eventually(lambda: consumed("lead.assigned", "skipped") == skipped + 1)
    assert http.get("/api/v1/notifications", headers=rep.headers).json()["items"] == []


def test_malformed_event_is_dead_lettered(live_gateway):
    settings = live_gateway.settings
    before = dead_lettered("malformed")
    publish(settings.amqp_uri, "leads.events", "lead.assigned", b"{not json")
    eventually(lambda: dead_lettered("malformed") == before + 1)
    assert eventually(lambda: take_from_queue(settings.amqp_uri, settings.notifications_dlq,
                                              lambda body: body == "{not json"))


def test_a_failing_event_is_retried_then_dead_lettered(live_gateway, make_user):
    settings = live_gateway.settings
    consumer = live_gateway.app.state.consumer
    attempts: list[str] = []

    def broken_store(session, **kwargs):
        attempts.append(kwargs["event_id"])
        raise RuntimeError("database is on fire")

    rep = make_user("sales")
    event = envelope("opportunity.won", {"opportunity_id": "O1", "name": "宏达 CRM",
                                         "amount": "128000.00", "owner_id": rep.id})
    before = dead_lettered("opportunity.won")
    original, consumer.store = consumer.store, broken_store
    try:
        publish(settings.amqp_uri, "sales.events", "opportunity.won", event)
        eventually(lambda: dead_lettered("opportunity.won") == before + 1)
    finally:
        consumer.store = original
    assert attempts == [event["id"]] * (settings.notifications_max_retries + 1)
    message = eventually(lambda: take_from_queue(settings.amqp_uri, settings.notifications_dlq,
                                                 lambda body: event["id"] in body))
    assert message.headers["x-gateway-retries"] == settings.notifications_max_retries


def test_stream_replays_what_was_missed(http, live_gateway, make_user):
    rep = make_user("sales")
    events = [envelope("ticket.created", {"ticket_id": f"T{i}", "title": f"工单{i}",
                                          "priority": "high", "assignee_id": rep.id})
              for i in range(2)]
    for event in events:
        publish(live_gateway.settings.amqp_uri, "service_desk.events", "ticket.created", event)
    items = eventually(lambda: len(http.get("/api/v1/notifications", headers=rep.headers)
                                   .json()["items"]) == 2
                       and http.get("/api/v1/notifications", headers=rep.headers).json()["items"])
    oldest, newest = items[1], items[0]
    with http.stream("GET", "/api/v1/notifications/stream",
                     headers={**rep.headers, "Last-Event-ID": oldest["id"]}) as stream:
        lines = stream.iter_lines()
        read_event(lines)
        replayed = read_event(lines)
    assert replayed["id"] == newest["id"]
    assert json.loads(replayed["data"])["title"] == "新工单待处理"


def test_stream_needs_a_token(http):
    answer = http.get("/api/v1/notifications/stream", params={"access_token": "bad"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_token"
    assert http.get("/api/v1/notifications/stream").status_code == 401


def test_stream_keeps_alive_and_cleans_up(http, make_user, monkeypatch):
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.3)
    rep = make_user("sales")
    channel = f"notifications:{rep.id}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with http.stream("GET", "/api/v1/notifications/stream",
                         params={"access_token": rep.token}) as stream:
            lines = stream.iter_lines()
            read_event(lines)
            assert read_event(lines) == {":": "ping"}
            assert dict(client.pubsub_numsub(channel))[channel.encode()] == 1
        eventually(lambda: dict(client.pubsub_numsub(channel))[channel.encode()] == 0)
        eventually(lambda: REGISTRY.get_sample_value("gateway_sse_connections") == 0)
    finally:
        client.close()


@pytest.mark.parametrize("event_type", sorted(RULES))
def test_every_mapped_type_reaches_the_inbox(http, live_gateway, make_user, event_type):
    rule = RULES[event_type]
    rep = make_user("sales")
    publish(live_gateway.settings.amqp_uri, rule.exchange, event_type,
            envelope(event_type, {"id": "X1", "name": "示例", rule.recipient: rep.id}))
    items = eventually(lambda: http.get("/api/v1/notifications", headers=rep.headers)
                       .json()["items"])
    assert items[0]["type"] == event_type and items[0]["title"] == rule.title
