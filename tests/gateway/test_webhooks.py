"""Webhooks end to end inside the gateway tier: real RabbitMQ events in, signed HTTP POSTs out
to a real local receiver (``http.server`` on 127.0.0.1), retries, dead-lettering, replay."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aio_pika
import pytest

from gateway import webhooks


class Receiver:
    """Records every POST; ``/fail`` answers 500 until ``healed``; ``/slow`` sleeps."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.healed = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
                if self.path == "/slow":
                    time.sleep(2)
                code = 500 if self.path == "/fail" and not receiver.healed else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def fast_retries(live_gateway):
    """Short back-off and timeout for this module (the service reads settings per use)."""
    service = live_gateway.app.state.webhooks
    saved = service.settings
    service.settings = saved.model_copy(update={
        "webhook_backoff_seconds": 0.2, "webhook_max_attempts": 3, "webhook_timeout": 1.0,
        "webhook_poll_seconds": 0.1})
    deadline = time.monotonic() + 20
    while not service.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.connected
    yield service
    service.settings = saved


def publish(amqp_uri: str, exchange: str, event_type: str, data: dict,
            event_id: str | None = None) -> str:
    event_id = event_id or uuid.uuid4().hex
    envelope = {"id": event_id, "type": event_type, "version": 1,
                "occurred_at": "2026-11-24T08:00:00+00:00", "source": exchange.split(".")[0],
                "actor_id": None, "correlation_id": "wh-test", "data": data}

    async def send() -> None:
        connection = await aio_pika.connect_robust(amqp_uri)
        async with connection:
            channel = await connection.channel()
            ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC,
                                                durable=True)
            await ex.publish(aio_pika.Message(json.dumps(envelope).encode(),
                                              content_type="application/json"),
                             routing_key=event_type)

    asyncio.run(send())
    return event_id


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def deliveries(http, admin, webhook_id: str) -> list[dict]:
    answer = http.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_signed_delivery_filters_and_idempotency(http, admin, receiver, fast_retries,
                                                 gateway_settings, make_user):
    owner = uuid.uuid4().hex
    created = http.post("/api/v1/webhooks", headers=admin, json={
        "name": "线索同步", "url": f"{receiver.url}/ok", "events": ["lead.*"],
        "filters": {"owner_id": owner}})
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    listed = http.get("/api/v1/webhooks", headers=admin).json()["items"]
    assert hook["id"] in {h["id"] for h in listed}
    assert all("secret" not in h for h in listed)

    amqp = gateway_settings.amqp_uri
    event_id = publish(amqp, "leads.events", "lead.claimed",
                       {"lead_id": "L1", "owner_id": owner, "name": "张伟"})
    publish(amqp, "leads.events", "lead.claimed", {"lead_id": "L1", "owner_id": owner},
            event_id=event_id)                                               # redelivered
    publish(amqp, "leads.events", "lead.claimed", {"lead_id": "L2", "owner_id": "other"})
    publish(amqp, "customers.events", "customer.created", {"owner_id": owner})  # other type
    first = wait_for(lambda: receiver.to("/ok"))[0]

    headers = {k.lower(): v for k, v in first["headers"].items()}
    assert headers["x-crm-event"] == "lead.claimed"
    assert webhooks.verify(secret, headers["x-crm-timestamp"], first["body"],
                           headers["x-crm-signature"])
    assert not webhooks.verify("whsec_wrong", headers["x-crm-timestamp"], first["body"],
                               headers["x-crm-signature"])
    payload = json.loads(first["body"])
    assert payload["id"] == event_id and payload["data"]["name"] == "张伟"

    done = wait_for(lambda: [d for d in deliveries(http, admin, hook["id"])
                             if d["status"] == "succeeded"])
    assert headers["x-crm-delivery"] == done[0]["id"]
    assert done[0]["attempt_log"][0]["response_code"] == 200
    time.sleep(0.5)  # the other three events had their chance
    assert len(receiver.to("/ok")) == 1
    assert len(deliveries(http, admin, hook["id"])) == 1

    rep = make_user("sales")
    assert http.get("/api/v1/webhooks", headers=rep.headers).status_code == 403


def test_retries_dead_letter_and_replay(http, admin, receiver, fast_retries, gateway_settings):
    hook = http.post("/api/v1/webhooks", headers=admin, json={
        "name": "失败", "url": f"{receiver.url}/fail", "events": ["ticket.created"]}).json()
    publish(gateway_settings.amqp_uri, "service_desk.events", "ticket.created",
            {"ticket_id": "T1"})
    dead = wait_for(lambda: [d for d in deliveries(http, admin, hook["id"])
                             if d["status"] == "dead"])[0]
    assert dead["attempts"] == 3 and dead["last_error"] == "HTTP 500"
    assert [a["response_code"] for a in dead["attempt_log"]] == [500, 500, 500]
    assert all(a["duration_ms"] >= 0 for a in dead["attempt_log"])
    gaps = [r for r in receiver.to("/fail")]
    assert len(gaps) == 3

    receiver.healed = True
    replayed = http.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{dead['id']}/replay",
                         headers=admin)
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    ok = wait_for(lambda: [d for d in deliveries(http, admin, hook["id"])
                           if d["status"] == "succeeded"])[0]
    assert [a["number"] for a in ok["attempt_log"]] == [1, 2, 3, 4]
    assert http.post(f"/api/v1/webhooks/{hook['id']}/deliveries/nope/replay",
                     headers=admin).status_code == 404


def test_slow_receiver_times_out_without_slowing_the_api(http, admin, receiver, fast_retries,
                                                         gateway_settings):
    hook = http.post("/api/v1/webhooks", headers=admin, json={
        "name": "慢", "url": f"{receiver.url}/slow", "events": ["payment.recorded"]}).json()
    for _ in range(3):
        publish(gateway_settings.amqp_uri, "sales.events", "payment.recorded", {"amount": "1"})
    wait_for(lambda: receiver.to("/slow"))
    started = time.monotonic()
    assert http.get("/api/v1/me", headers=admin).status_code == 200
    assert time.monotonic() - started < 0.5
    failed = wait_for(lambda: [a for d in deliveries(http, admin, hook["id"])
                               for a in d["attempt_log"] if not a["ok"]])
    assert "Timeout" in failed[0]["error"]


def test_webhook_validation(http, admin):
    for bad in ({"name": "x", "url": "ftp://a.example/x", "events": ["*"]},
                {"name": "x", "url": "https://a.example/x", "events": []},
                {"name": "x", "url": "https://a.example/x", "events": ["Lead Claimed"]},
                {"name": "x", "url": "https://a.example/x", "events": ["*"],
                 "filters": {"a": {"b": 1}}}):
        assert http.post("/api/v1/webhooks", headers=admin, json=bad).status_code == 422, bad
    assert http.get("/api/v1/webhooks/nope/deliveries", headers=admin).status_code == 404


def test_deactivated_webhook_gets_nothing(http, admin, receiver, fast_retries, gateway_settings):
    hook = http.post("/api/v1/webhooks", headers=admin, json={
        "name": "停用", "url": f"{receiver.url}/off", "events": ["quote.sent"]}).json()
    assert http.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin).status_code == 204
    listed = {h["id"]: h for h in http.get("/api/v1/webhooks", headers=admin,
                                           params={"limit": 200}).json()["items"]}
    assert listed[hook["id"]]["active"] is False
    publish(gateway_settings.amqp_uri, "sales.events", "quote.sent", {"quote_id": "Q1"})
    time.sleep(0.5)
    assert receiver.to("/off") == [] and deliveries(http, admin, hook["id"]) == []
    assert http.delete("/api/v1/webhooks/nope", headers=admin).status_code == 404


@pytest.mark.parametrize("patterns, event_type, expected", [
    (["*"], "lead.claimed", True), (["lead.*"], "lead.claimed", True),
    (["lead.*"], "lead_pool.created", False), (["lead.claimed"], "lead.claimed", True),
    (["lead.claimed"], "lead.released", False), ([], "lead.claimed", False),
])
def test_type_patterns(patterns, event_type, expected):
    assert webhooks.type_matches(patterns, event_type) is expected


def test_an_event_no_subscription_wants_is_skipped_before_the_store():
    subscriptions = [(["lead.*"], {"owner_id": "a"}), (["quote.sent"], {})]
    assert webhooks.wanted(subscriptions, {"type": "lead.claimed", "data": {"owner_id": "a"}})
    assert not webhooks.wanted(subscriptions, {"type": "lead.claimed",
                                               "data": {"owner_id": "b"}})
    assert webhooks.wanted(subscriptions, {"type": "quote.sent", "data": None})
    assert not webhooks.wanted(subscriptions, {"type": "ticket.created", "data": {}})
    assert not webhooks.wanted([], {"type": "lead.claimed", "data": {}})


def test_filters_signature_and_backoff():
    assert webhooks.filters_match({"owner_id": "a"}, {"owner_id": "a", "x": 1})
    assert not webhooks.filters_match({"owner_id": "a"}, {"owner_id": "b"})
    assert webhooks.filters_match({"status": ["won", "lost"]}, {"status": "lost"})
    assert not webhooks.filters_match({"missing": "x"}, {})
    body = b'{"id":"1"}'
    signature = webhooks.sign("s", 1700000000, body)
    assert signature.startswith("sha256=") and len(signature) == 71
    assert webhooks.verify("s", "1700000000", body, signature, now=1700000100)
    assert not webhooks.verify("s", "1700000000", body, signature, now=1700001000)  # stale
    assert not webhooks.verify("s", "1700000000", body + b" ", signature, now=1700000000)
    assert [webhooks.backoff(n, 10) for n in (1, 2, 3)] == [10, 20, 40]


def test_store_schedule_lease_and_resume(tmp_path):
    """The persisted schedule: one claim per due delivery, back-off, dead, resume after a
    restart (a new Database on the same file finds what is due)."""
    import datetime as dt

    from gateway.db import Database

    url = f"sqlite:///{tmp_path / 'wh.db'}"
    database = Database(url)
    database.migrate()
    hook = database.run(lambda s: webhooks.create_webhook(
        s, name="h", url="http://127.0.0.1:9/x", events=["lead.*"], filters={},
        created_by="admin").id)
    envelope = {"id": "e1", "type": "lead.created", "data": {}}
    assert database.run(webhooks.enqueue, envelope) == 1
    assert database.run(webhooks.enqueue, envelope) == 0          # redelivered: no duplicate
    assert database.run(webhooks.enqueue, {"id": "e2", "type": "ticket.created",
                                           "data": {}}) == 0     # not subscribed

    t0 = dt.datetime.now(dt.UTC)
    claimed = database.run(webhooks.claim_due, 10, now=t0)
    assert [c["webhook_id"] for c in claimed] == [hook]
    assert database.run(webhooks.claim_due, 10, now=t0) == []     # leased: nobody else
    delivery_id = claimed[0]["id"]
    status = database.run(webhooks.record_attempt, delivery_id, ok=False, code=503,
                          duration_ms=5, error="HTTP 503", max_attempts=2, backoff_base=10,
                          now=t0)
    assert status == "pending"
    database.dispose()

    restarted = Database(url)                                      # a restart resumes
    assert restarted.run(webhooks.claim_due, 10, now=t0 + dt.timedelta(seconds=9)) == []
    again = restarted.run(webhooks.claim_due, 10, now=t0 + dt.timedelta(seconds=11))
    assert [c["id"] for c in again] == [delivery_id]
    status = restarted.run(webhooks.record_attempt, delivery_id, ok=False, code=None,
                           duration_ms=5000, error="ReadTimeout", max_attempts=2,
                           backoff_base=10, now=t0 + dt.timedelta(seconds=11))
    assert status == "dead"
    assert restarted.run(webhooks.claim_due, 10, now=t0 + dt.timedelta(days=1)) == []
    items, _ = restarted.run(webhooks.list_deliveries, hook, cursor=None, limit=10)
    assert [a["error"] for a in items[0]["attempt_log"]] == ["HTTP 503", "ReadTimeout"]
    restarted.dispose()


def queue_bindings(amqp_uri: str, queue: str) -> set[tuple[str, str]]:
    """(exchange, routing key) of every binding of ``queue``, from the management API."""
    from urllib.parse import quote, urlsplit

    import httpx

    vhost = urlsplit(amqp_uri).path.lstrip("/") or "/"
    answer = httpx.get(f"http://127.0.0.1:15672/api/queues/{quote(vhost, safe='')}/"
                       f"{quote(queue, safe='')}/bindings", auth=("guest", "guest"), timeout=10)
    answer.raise_for_status()
    return {(b["source"], b["routing_key"]) for b in answer.json() if b["source"]}


def test_the_queue_is_bound_only_to_what_subscriptions_want(http, admin, receiver,
                                                           fast_retries, gateway_settings):
    """Events nobody subscribed to never reach the gateway; a subscription's types are bound
    before its creation answers, and unbound when it ends."""
    queue = gateway_settings.webhooks_queue
    hook = http.post("/api/v1/webhooks", headers=admin, json={
        "name": "工单", "url": f"{receiver.url}/bound", "events": ["work_order.*",
                                                                 "return.approved"]}).json()
    bound = queue_bindings(gateway_settings.amqp_uri, queue)
    keys = {key for _, key in bound}
    assert {"work_order.#", "return.approved"} <= keys
    assert "#" not in keys                             # no catch-all: nobody asked for '*'
    from gateway.broker import EVENT_EXCHANGES
    assert {source for source, key in bound if key == "return.approved"} == set(EVENT_EXCHANGES)
    publish(gateway_settings.amqp_uri, "service_desk.events", "work_order.completed",
            {"work_order_id": "W1"})                    # routed at once, no wait
    assert wait_for(lambda: receiver.to("/bound"))
    assert http.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin).status_code == 204
    keys = {key for _, key in queue_bindings(gateway_settings.amqp_uri, queue)}
    assert "work_order.#" not in keys and "return.approved" not in keys


def test_binding_keys_cover_the_patterns():
    assert webhooks.binding_keys(["*"]) == {"#"}
    assert webhooks.binding_keys(["lead.*", "quote.sent", ""]) == {"lead.#", "quote.sent"}
    for pattern, event_type in (("lead.*", "lead.claimed"), ("quote.sent", "quote.sent")):
        assert webhooks.type_matches([pattern], event_type)
        [key] = webhooks.binding_keys([pattern])
        assert key == event_type or (key.endswith(".#") and event_type.startswith(key[:-1]))
