"""The analytics service in a real container on the real broker.

Other services are played by publishing their events to their exchanges exactly as
an outbox relay does; analytics' own store (SQLite) and the broker are real.
"""
from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import kombu
import pytest
from nameko.testing.services import entrypoint_hook
from prometheus_client import REGISTRY

from crmkit.config import ServiceSettings
from crmkit.errors import Forbidden
from services.analytics.service import AnalyticsService
from tests.pg import create_database, drop_database

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SOURCES = {"lead": "leads", "customer": "customers", "opportunity": "sales",
           "pipeline": "sales", "ticket": "service_desk"}


# -- helpers (the shared conftest belongs to the service tier's owner) -------------------------

def make_config(rabbit_config, tmp_path, **overrides) -> dict:
    overrides.setdefault("database_url", f"sqlite:///{tmp_path}/a.db")
    settings = ServiceSettings.from_env(
        "analytics", metrics_port=0, amqp_uri=rabbit_config["AMQP_URI"], **overrides)
    return {**rabbit_config, **settings.nameko_config()}


def principal(user_id: str, role: str = "sales", visible: list[str] | None = None) -> dict:
    """Context data as the gateway sends it; ``visible`` None = sees everyone."""
    return {"principal": json.dumps({
        "user_id": user_id, "username": user_id, "role": role, "team_id": "t1",
        "data_scope": "all" if visible is None else "own", "visible_user_ids": visible})}


ADMIN = principal("admin", "admin")


def call(container, method, context=ADMIN, **kwargs):
    with entrypoint_hook(container, method, context_data=context) as hook:
        return hook(**kwargs)


class Events:
    def __init__(self):
        self.n = 0

    def __call__(self, type_: str, data: dict, minutes: float = 0) -> dict:
        self.n += 1
        return {"id": f"{int(time.time() * 1000):012x}{self.n:020x}", "type": type_,
                "version": 1, "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
                "source": SOURCES[type_.split(".")[0]], "actor_id": "u-actor",
                "correlation_id": f"corr-{self.n}", "data": data}


def publish(amqp_uri: str, *envelopes: dict) -> None:
    """Publish as a service's outbox relay does: JSON body, routing key = event type."""
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for env in envelopes:
            exchange = kombu.Exchange(f"{env['source']}.events", type="topic", durable=True)
            producer.publish(json.dumps(env), exchange=exchange, routing_key=env["type"],
                             declare=[exchange], content_type="application/json",
                             content_encoding="utf-8", delivery_mode=2, serializer=None,
                             headers={"nameko.correlation_id": env["correlation_id"]})


def consumed(event_type: str) -> float:
    return REGISTRY.get_sample_value(
        "crm_events_consumed_total", {"service": "analytics", "type": event_type}) or 0.0


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def queue_depth(amqp_uri: str, name: str) -> int:
    with kombu.Connection(amqp_uri) as conn:
        return conn.default_channel.queue_declare(queue=name, passive=True).message_count


def lead(lead_id, owner=None, name="张伟", company="上海星辰科技", status="new") -> dict:
    return {"lead_id": lead_id, "name": name, "company": company, "source": "expo",
            "pool": "default", "status": status, "owner_id": owner, "follow_up_deadline": None}


def opp(opportunity_id, owner, amount, stage, status="open", **extra) -> dict:
    return {"opportunity_id": opportunity_id, "customer_id": "C1", "owner_id": owner,
            "team_id": "t1", "pipeline_id": "p1", "name": f"商机{opportunity_id}",
            "amount": amount, "stage": stage, "probability": None, "status": status,
            "expected_close_date": "2026-06-30", **extra}


PIPELINE = {"pipeline_id": "p1", "name": "默认流程", "stages": [
    {"name": "初步接洽", "probability": 10, "kind": "open"},
    {"name": "需求确认", "probability": 30, "kind": "open"},
    {"name": "赢单", "probability": 100, "kind": "won"},
    {"name": "输单", "probability": 0, "kind": "lost"}]}


def story(e: Events) -> list[dict]:
    return [
        e("pipeline.created", PIPELINE),
        e("lead.created", lead("L1")),
        e("lead.created", lead("L2", name="李娜", company="杭州云帆"), 1),
        e("lead.claimed", lead("L1", owner="A", status="following"), 5),
        e("customer.created", {"customer_id": "C1", "lead_id": "L1", "owner_id": "A",
                               "team_id": "t1", "name": "上海星辰科技", "level": "B",
                               "status": "potential"}, 60),
        e("opportunity.created", opp("o1", "A", "12800.00", "初步接洽"), 120),
        e("opportunity.created", opp("o2", "B", "5000.50", "初步接洽"), 121),
        e("opportunity.stage_changed", opp("o1", "A", "12800.00", "需求确认",
                                           from_stage="初步接洽", to_stage="需求确认"), 180),
        e("opportunity.won", opp("o1", "A", "12800.00", "赢单", "won"), 240),
    ]


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def analytics(container_factory, rabbit_config, tmp_path):
    container = container_factory(AnalyticsService, make_config(rabbit_config, tmp_path))
    container.start()
    return container


@pytest.fixture
def fragile_analytics(container_factory, rabbit_config, tmp_path):
    config = make_config(rabbit_config, tmp_path, event_max_attempts=2, event_retry_delay_ms=100)
    container = container_factory(AnalyticsService, config)
    container.start()
    return container


# -- tests -------------------------------------------------------------------------------------

def test_events_from_the_broker_become_funnel_and_activity(analytics, rabbit_config):
    lag_before = REGISTRY.get_sample_value("crm_analytics_event_lag_seconds_count",
                                           {"source": "sales"}) or 0.0
    events = story(Events())
    publish(rabbit_config["AMQP_URI"], *events)
    result = wait_until(lambda: (f := call(analytics, "funnel"))["overall"]["won"] == 1 and f)
    assert result["pipeline_id"] == "p1"
    assert [(s["stage"], s["count"], s["amount"], s["conversion_rate"])
            for s in result["stages"]] == [
        ("初步接洽", 2, "17800.50", None),
        ("需求确认", 1, "12800.00", "0.5000"),
        ("赢单", 1, "12800.00", "1.0000")]
    assert result["overall"] == {
        "leads": 2, "customers": 1, "opportunities": 2, "won": 1,
        "lead_to_customer": "0.5000", "customer_to_opportunity": "2.0000",
        "opportunity_to_won": "0.5000"}

    feed = wait_until(lambda: (p := call(analytics, "activity", limit=50))
                      and len(p["items"]) == len(events) and p)
    assert sorted(i["id"] for i in feed["items"]) == sorted(e["id"] for e in events)
    assert [i["id"] for i in feed["items"]] == sorted((i["id"] for i in feed["items"]),
                                                      reverse=True)
    claimed = next(i for i in feed["items"] if i["type"] == "lead.claimed")
    assert claimed["summary"] == "线索「张伟 / 上海星辰科技」被领取"
    assert (claimed["source"], claimed["owner_id"], claimed["subject_id"]) == ("leads", "A", "L1")
    page = call(analytics, "activity", limit=4)
    assert len(page["items"]) == 4 and page["next_cursor"]
    rest = call(analytics, "activity", cursor=page["next_cursor"], limit=50)
    assert [i["id"] for i in page["items"] + rest["items"]] == [i["id"] for i in feed["items"]]

    lag_after = REGISTRY.get_sample_value("crm_analytics_event_lag_seconds_count",
                                          {"source": "sales"})
    assert lag_after - lag_before == 5  # pipeline.created + four opportunity events


def test_same_event_delivered_twice_is_counted_once(analytics, rabbit_config):
    e = Events()
    created = e("opportunity.created", opp("o1", "A", "100.00", "初步接洽"))
    before = consumed("opportunity.created")
    publish(rabbit_config["AMQP_URI"], created, created)
    wait_until(lambda: consumed("opportunity.created") - before >= 2)
    result = call(analytics, "funnel")
    assert result["stages"][0]["count"] == 1 and result["overall"]["opportunities"] == 1
    assert len(call(analytics, "activity")["items"]) == 1


def test_own_scope_sees_only_own_and_pool_records(analytics, rabbit_config):
    events = story(Events())
    publish(rabbit_config["AMQP_URI"], *events)
    wait_until(lambda: len(call(analytics, "activity", limit=50)["items"]) == len(events))

    b = call(analytics, "funnel", principal("B", visible=["B"]))
    assert [(s["stage"], s["count"]) for s in b["stages"]] == [
        ("初步接洽", 1), ("需求确认", 0), ("赢单", 0)]
    assert b["overall"]["leads"] == 2  # pool leads count for everyone
    assert (b["overall"]["customers"], b["overall"]["opportunities"], b["overall"]["won"]) == (
        0, 1, 0)
    items = call(analytics, "activity", principal("B", visible=["B"]), limit=50)["items"]
    assert {i["owner_id"] for i in items} == {"B", None}
    assert {i["type"] for i in items if i["owner_id"] is None} == {"pipeline.created",
                                                                    "lead.created"}
    a = call(analytics, "funnel", principal("A", visible=["A"]))
    assert [s["count"] for s in a["stages"]] == [1, 1, 1]


def test_rebuild_projections_replays_the_log(analytics, rabbit_config):
    events = story(Events())
    publish(rabbit_config["AMQP_URI"], *events)
    before = wait_until(lambda: (f := call(analytics, "funnel"))["overall"]["won"] == 1 and f)
    wait_until(lambda: len(call(analytics, "activity", limit=50)["items"]) == len(events))
    with pytest.raises(Forbidden):
        call(analytics, "rebuild_projections", principal("A", visible=["A"]))
    done = call(analytics, "rebuild_projections")
    assert done["events"] == len(events)
    assert call(analytics, "funnel") == before


def test_poison_event_ends_in_the_dead_letter_queue(fragile_analytics, rabbit_config):
    uri, e = rabbit_config["AMQP_URI"], Events()
    poison = e("opportunity.created", opp("bad", "A", "not-a-number", "初步接洽"))
    good = e("opportunity.created", opp("o1", "A", "100.00", "初步接洽"), 1)
    publish(uri, poison, good)
    wait_until(lambda: queue_depth(uri, "analytics.events.dlq") == 1)
    result = wait_until(lambda: (f := call(fragile_analytics, "funnel"))["stages"] and f)
    assert result["stages"][0]["count"] == 1 and result["stages"][0]["amount"] == "100.00"
    assert queue_depth(uri, "analytics.events") == 0
    assert [i["id"] for i in call(fragile_analytics, "activity")["items"]] == [good["id"]]
    with kombu.Connection(uri) as conn:
        message = conn.SimpleQueue("analytics.events.dlq").get(timeout=2)
        assert json.loads(message.body)["id"] == poison["id"]
        assert message.headers["x-crm-attempts"] == 2
        message.ack()


def failed(event_type: str) -> float:
    return REGISTRY.get_sample_value(
        "crm_events_failed_total", {"service": "analytics", "type": event_type}) or 0.0


@pytest.fixture
def pg_analytics(container_factory, rabbit_config, tmp_path):
    url = create_database("crm_analytics")
    try:
        container = container_factory(AnalyticsService,
                                      make_config(rabbit_config, tmp_path, database_url=url))
        container.start()
        yield container
        container.stop()
    finally:
        drop_database(url)


def test_concurrent_out_of_order_delivery_converges_on_postgres(pg_analytics, rabbit_config):
    """16 workers on PostgreSQL take a shuffled burst of events touching the same records.

    Row locks serialise the events of one opportunity; the result must equal the serial
    replay of the log (rebuild) and the numbers worked out by hand."""
    e, bodies = Events(), []
    for i in range(20):
        oid, amount = f"o{i}", f"{1000 + i}.50"
        bodies.append(e("opportunity.created", opp(oid, "A", amount, "初步接洽"), i))
        bodies.append(e("opportunity.stage_changed",
                        opp(oid, "A", amount, "需求确认", from_stage="初步接洽",
                            to_stage="需求确认"), 60 + i))
        if i % 2:  # odd ones are reassigned to B with a new amount, then won
            bodies.append(e("opportunity.stage_changed",
                            opp(oid, "B", "99.00", "赢单", "won", from_stage="需求确认",
                                to_stage="赢单"), 120 + i))
            bodies.append(e("opportunity.won", opp(oid, "B", "99.00", "赢单", "won"), 120 + i))
    bodies.append(e("pipeline.created", PIPELINE))
    random.Random(3).shuffle(bodies)
    types = {b["type"] for b in bodies}
    before = {t: consumed(t) for t in types}
    failures = sum(failed(t) for t in types)
    publish(rabbit_config["AMQP_URI"], *bodies)
    wait_until(lambda: sum(consumed(t) - before[t] for t in types) >= len(bodies), timeout=30)

    live = call(pg_analytics, "funnel")
    assert [(s["stage"], s["count"], s["amount"]) for s in live["stages"]] == [
        ("初步接洽", 20, "11085.00"),   # Σ even (1000+i).50 = 10095.00, + 10 odd × 99.00
        ("需求确认", 20, "11085.00"),
        ("赢单", 10, "990.00")]
    a = call(pg_analytics, "funnel", principal("A", visible=["A"]))
    assert [s["count"] for s in a["stages"]] == [10, 10, 0]
    assert a["stages"][0]["amount"] == "10095.00"
    assert live["overall"]["opportunities"] == 20 and live["overall"]["won"] == 10

    assert call(pg_analytics, "rebuild_projections")["events"] == len(bodies)
    assert call(pg_analytics, "funnel") == live
    assert call(pg_analytics, "funnel", principal("A", visible=["A"])) == a
    # conflicts between workers are resolved by locks, not by failing and retrying
    assert sum(failed(t) for t in types) == failures
