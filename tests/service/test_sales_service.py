"""Service tests of sales: the real service in a Nameko container, a real RabbitMQ, a real store.

Tier: service (see the STYLE guide). Each test gets its own RabbitMQ vhost (Nameko's
``rabbit_config``) and its own SQLite file; RPC entrypoints are called with
``entrypoint_hook`` carrying a caller's principal, and once over the wire exactly as the
gateway calls them (docs/rpc.md). Events are read from the ``sales.events`` exchange by a
queue bound there, so what is asserted is what RabbitMQ really delivered.

Run: ``nameko test tests/service/test_sales_service.py`` (eventlet monkey-patched).
"""
from __future__ import annotations

import json
import time
import uuid

import eventlet
import kombu
import pytest
from nameko.testing.services import entrypoint_hook

from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed, from_remote
from services.sales.service import SalesService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap, principal

ENVELOPE = {"id", "type", "version", "occurred_at", "source", "actor_id", "correlation_id",
            "data"}
OPPORTUNITY_FIELDS = {"opportunity_id", "customer_id", "owner_id", "team_id", "pipeline_id",
                      "name", "amount", "stage", "probability", "status",
                      "expected_close_date"}
DEFAULT_STAGES = [("初步接洽", 10, "open"), ("需求确认", 30, "open"), ("方案报价", 50, "open"),
                  ("谈判审核", 70, "open"), ("赢单", 100, "won"), ("输单", 0, "lost")]

REP_A = "01900000000070008000000000000a01"
REP_B = "01900000000070008000000000000b02"
MANAGER = "01900000000070008000000000000c03"
TEAM = "01900000000070008000000000000d04"

# context data as the gateway sends it (tests/service/conftest.py)
REP_A_P = principal(REP_A, team_id=TEAM)
REP_B_P = principal(REP_B, team_id=TEAM)
MANAGER_P = principal(MANAGER, "manager", [MANAGER, REP_A, REP_B], TEAM)
TEAMMATE_P = principal(REP_B, "sales", [REP_A, REP_B], TEAM)  # sees A's records, may not act
ADMIN_P = principal(MANAGER, "admin", None, TEAM)


class EventLog(EventTap):
    """The conftest's tap, keeping every event that arrived, in order (nothing skipped)."""

    def __init__(self, amqp_uri: str, source: str):
        super().__init__(amqp_uri, source)
        self.events: list[dict] = []
        self.routing_keys: list[str] = []

    def poll(self, seconds: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            message = self.queue.get(no_ack=True)
            if message is not None:
                self.events.append(json.loads(message.body))
                self.routing_keys.append(message.delivery_info["routing_key"])
                continue
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def collect(self, *types: str, timeout: float = 10.0) -> list[dict]:
        """Wait until events of these types (with repeats) arrived; return those, in order."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            remaining = list(types)
            for event in self.events:
                if event["type"] in remaining:
                    remaining.remove(event["type"])
            if not remaining:
                return [e for e in self.events if e["type"] in types]
            if time.monotonic() > deadline:
                raise AssertionError(f"events {remaining} did not arrive; got "
                                     f"{[e['type'] for e in self.events]}")
            time.sleep(0.05)


def wire_call(amqp_uri: str, service: str, method: str, kwargs: dict,
              context: dict | None = None, timeout: float = 10.0) -> dict:
    """One RPC call exactly as docs/rpc.md specifies; returns the raw reply body."""
    corr = uuid.uuid4().hex
    rpc_exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
    reply_key = f"test-reply-{corr}"
    reply_queue = kombu.Queue(reply_key, exchange=rpc_exchange, routing_key=reply_key,
                              exclusive=True, auto_delete=True)
    replies: list[dict] = []
    headers = {"nameko.correlation_id": corr, "nameko.call_id_stack": [f"gateway.{corr}"]}
    if context is not None:
        headers["nameko.principal"] = context["principal"]
    with kombu.Connection(amqp_uri) as conn:
        def on_reply(body, message):
            replies.append(body)
            message.ack()

        with conn.Consumer(reply_queue, callbacks=[on_reply], accept=["json"]):
            conn.Producer().publish({"args": [], "kwargs": kwargs}, exchange=rpc_exchange,
                                    routing_key=f"{service}.{method}", reply_to=reply_key,
                                    correlation_id=corr, headers=headers, serializer="json",
                                    mandatory=True)
            deadline = time.monotonic() + timeout
            while not replies:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no reply to {service}.{method}")
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
    return replies[0]


@pytest.fixture
def config(service_config):
    return service_config("sales")


@pytest.fixture
def tap(rabbit_config):
    tap = EventLog(rabbit_config["AMQP_URI"], "sales")
    yield tap
    tap.close()


@pytest.fixture
def container(container_factory, config, tap):
    container = container_factory(SalesService, config)
    container.start()
    return container


@pytest.fixture
def call(container):
    """``call(context, method, **kwargs)``: one RPC entrypoint call as that caller."""
    def call(context, method, **kwargs):
        with entrypoint_hook(container, method, context_data=context) as hook:
            return hook(**kwargs)
    return call


def new_opportunity(call, who=REP_A_P, **overrides):
    data = {"customer_id": "01900000000070008000000000c00001", "name": "华东区 ERP 升级",
            "amount": "128000.00", "expected_close_date": "2026-12-31", **overrides}
    return call(who, "create_opportunity", data=data)


def assert_envelope(event, event_type, actor_id):
    assert set(event) == ENVELOPE
    assert event["type"] == event_type
    assert event["source"] == "sales"
    assert event["version"] == 1
    assert event["actor_id"] == actor_id
    assert event["correlation_id"]
    assert event["occurred_at"].endswith("+00:00")


# -- pipelines ---------------------------------------------------------------------------------

def test_default_pipeline_exists_right_after_start(call, tap):
    pipelines = call(REP_A_P, "list_pipelines")["items"]
    assert len(pipelines) == 1
    default = pipelines[0]
    assert default["is_default"] is True and default["name"] == "默认销售流程"
    assert [(s["name"], s["probability"], s["kind"]) for s in default["stages"]] == DEFAULT_STAGES

    [event] = tap.collect("pipeline.created")
    assert_envelope(event, "pipeline.created", None)
    assert event["data"]["pipeline_id"] == default["id"]
    assert [s["name"] for s in event["data"]["stages"]] == [s[0] for s in DEFAULT_STAGES]


def test_default_pipeline_is_seeded_once_across_restarts(container_factory, config):
    for _ in range(2):
        container = container_factory(SalesService, config)
        container.start()
        with entrypoint_hook(container, "list_pipelines",
                             context_data=REP_A_P) as hook:
            items = hook()["items"]
        container.stop()
        assert [p["is_default"] for p in items] == [True]


def test_manager_creates_a_pipeline(call, tap):
    stages = [{"name": "线索确认", "probability": 20}, {"name": "演示", "probability": 60},
              {"name": "签约", "probability": 100}, {"name": "放弃", "probability": 0}]
    pipeline = call(MANAGER_P, "create_pipeline", data={"name": "渠道销售", "stages": stages})
    assert pipeline["is_default"] is False
    assert [(s["name"], s["kind"]) for s in pipeline["stages"]] == [
        ("线索确认", "open"), ("演示", "open"), ("签约", "won"), ("放弃", "lost")]
    assert pipeline["id"] in [p["id"] for p in call(REP_A_P, "list_pipelines")["items"]]

    events = tap.collect("pipeline.created", "pipeline.created")
    assert_envelope(events[-1], "pipeline.created", MANAGER)
    assert events[-1]["data"]["pipeline_id"] == pipeline["id"]

    # an opportunity follows its own pipeline: starts at its first open stage, knows only its
    # own stages
    opp = new_opportunity(call, pipeline_id=pipeline["id"])
    assert opp["pipeline_id"] == pipeline["id"]
    assert (opp["stage"], opp["probability"]) == ("线索确认", 20)
    with pytest.raises(ValidationFailed) as err:
        call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="需求确认")
    assert err.value.code == "unknown_stage"
    assert call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="签约")["status"] == "won"


def test_pipeline_rules(call):
    ok = [{"name": "跟进", "probability": 50}, {"name": "赢", "probability": 100},
          {"name": "输", "probability": 0}]
    mine = call(REP_A_P, "create_pipeline", data={"name": "我的流程", "stages": ok})  # 自定义流程
    assert mine["created_by"] == REP_A
    with pytest.raises(Forbidden):
        call(principal("svc1", "service"), "create_pipeline", data={"name": "客服流程",
                                                                    "stages": ok})
    call(ADMIN_P, "create_pipeline", data={"name": "大客户流程", "stages": ok})
    with pytest.raises(Conflict) as err:
        call(MANAGER_P, "create_pipeline", data={"name": " 大客户流程 ", "stages": ok})
    assert err.value.code == "pipeline_name_taken"
    with pytest.raises(Conflict):
        call(MANAGER_P, "create_pipeline", data={"name": "默认销售流程", "stages": ok})

    bad = {
        "no won stage": [{"name": "a", "probability": 50}, {"name": "b", "probability": 0}],
        "no open stage": [{"name": "赢", "probability": 100}, {"name": "输", "probability": 0}],
        "two lost": ok + [{"name": "又输", "probability": 0}],
        "probability 120": [{"name": "a", "probability": 120}] + ok[1:],
        "won at 90": [ok[0], {"name": "赢", "probability": 90, "kind": "won"}, ok[2]],
    }
    for i, stages in enumerate(bad.values()):
        with pytest.raises(ValidationFailed) as err:
            call(MANAGER_P, "create_pipeline", data={"name": f"坏流程{i}", "stages": stages})
        assert err.value.code == "invalid_pipeline"
        assert err.value.details and all("field" in d for d in err.value.details)
    with pytest.raises(ValidationFailed) as err:
        call(MANAGER_P, "create_pipeline", data={"name": "", "stages": ok})
    assert err.value.details[0]["field"] == "name"
    assert len(call(REP_A_P, "list_pipelines")["items"]) == 3


# -- opportunities -----------------------------------------------------------------------------

def test_opportunity_goes_through_the_stages_to_won(call, tap):
    opp = new_opportunity(call, owner_id=REP_B, status="won", stage="赢单", probability=99)
    assert opp["owner_id"] == REP_A and opp["team_id"] == TEAM  # client fields ignored
    assert (opp["stage"], opp["probability"], opp["status"]) == ("初步接洽", 10, "open")
    assert opp["amount"] == "128000.00" and opp["currency"] == "CNY"
    assert opp["expected_close_date"] == "2026-12-31"
    assert opp["created_at"].endswith("+00:00") and opp["closed_at"] is None
    default_id = call(REP_A_P, "list_pipelines")["items"][0]["id"]
    assert opp["pipeline_id"] == default_id

    got = call(REP_A_P, "get_opportunity", opportunity_id=opp["id"])
    assert [(h["from_stage"], h["to_stage"]) for h in got["stage_history"]] == [(None, "初步接洽")]

    for stage in ("需求确认", "方案报价", "谈判审核"):
        moved = call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage=stage)
        assert moved["stage"] == stage and moved["status"] == "open"
    won = call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="赢单")
    assert (won["stage"], won["probability"], won["status"]) == ("赢单", 100, "won")
    assert won["closed_at"] is not None and won["lost_reason"] is None

    got = call(REP_A_P, "get_opportunity", opportunity_id=opp["id"])
    history = got["stage_history"]
    assert [(h["from_stage"], h["to_stage"], h["from_probability"], h["to_probability"])
            for h in history] == [
        (None, "初步接洽", None, 10), ("初步接洽", "需求确认", 10, 30),
        ("需求确认", "方案报价", 30, 50), ("方案报价", "谈判审核", 50, 70),
        ("谈判审核", "赢单", 70, 100)]
    assert all(h["actor_id"] == REP_A and h["changed_at"].endswith("+00:00") for h in history)

    with pytest.raises(Conflict) as err:
        call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="谈判审核")
    assert err.value.code == "opportunity_closed"

    events = tap.collect("opportunity.created", *["opportunity.stage_changed"] * 4,
                          "opportunity.won")
    assert [e["type"] for e in events] == ["opportunity.created"] + [
        "opportunity.stage_changed"] * 4 + ["opportunity.won"]
    for event in events:
        assert_envelope(event, event["type"], REP_A)
        assert OPPORTUNITY_FIELDS <= set(event["data"])
        assert event["data"]["opportunity_id"] == opp["id"]
        assert event["data"]["amount"] == "128000.00"
        assert event["data"]["owner_id"] == REP_A and event["data"]["team_id"] == TEAM
    last_move = events[-2]["data"]
    assert (last_move["from_stage"], last_move["to_stage"], last_move["from_probability"],
            last_move["to_probability"]) == ("谈判审核", "赢单", 70, 100)
    assert events[-1]["data"]["status"] == "won" and events[-1]["data"]["probability"] == 100
    assert tap.routing_keys[tap.events.index(events[-1])] == "opportunity.won"


def test_lost_needs_a_reason(call, tap):
    opp = new_opportunity(call)
    for reason in (None, "  "):
        with pytest.raises(ValidationFailed) as err:
            call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="输单",
                 lost_reason=reason)
        assert err.value.code == "lost_reason_required"
        assert err.value.details[0]["field"] == "lost_reason"
    assert call(REP_A_P, "get_opportunity", opportunity_id=opp["id"])["status"] == "open"

    lost = call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="输单",
                lost_reason="客户预算取消")
    assert (lost["status"], lost["probability"], lost["lost_reason"]) == ("lost", 0, "客户预算取消")
    with pytest.raises(Conflict) as err:
        call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="赢单")
    assert err.value.code == "opportunity_closed"

    events = tap.collect("opportunity.created", "opportunity.stage_changed",
                          "opportunity.lost")
    lost_event = events[-1]
    assert lost_event["type"] == "opportunity.lost"
    assert lost_event["data"]["lost_reason"] == "客户预算取消"
    assert OPPORTUNITY_FIELDS <= set(lost_event["data"])
    # refused changes emitted nothing
    tap.poll(0.5)
    assert [e["type"] for e in tap.events if e["type"].startswith("opportunity.")] == [
        "opportunity.created", "opportunity.stage_changed", "opportunity.lost"]


def test_unknown_stage_and_same_stage(call, tap):
    opp = new_opportunity(call)
    for stage in ("不存在的阶段", "", None):
        with pytest.raises(ValidationFailed) as err:
            call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage=stage)
        assert err.value.code == "unknown_stage"
        assert err.value.details[0]["field"] == "stage"
    same = call(REP_A_P, "change_stage", opportunity_id=opp["id"], stage="初步接洽")
    assert same["stage"] == "初步接洽" and len(same["stage_history"]) == 1
    tap.collect("opportunity.created")
    tap.poll(0.5)
    assert not [e for e in tap.events if e["type"] == "opportunity.stage_changed"]


def test_records_outside_scope_are_not_found(call):
    opp = new_opportunity(call)
    with pytest.raises(NotFound) as err:
        call(REP_B_P, "get_opportunity", opportunity_id=opp["id"])
    assert err.value.code == "opportunity_not_found"
    with pytest.raises(NotFound):
        call(REP_B_P, "change_stage", opportunity_id=opp["id"], stage="需求确认")
    assert call(REP_B_P, "list_opportunities")["items"] == []
    assert call(REP_B_P, "list_opportunities", customer_id=opp["customer_id"])["items"] == []
    with pytest.raises(NotFound):
        call(REP_A_P, "get_opportunity", opportunity_id="0190000000007000800000000000dead")

    # a teammate whose scope covers A sees it but may not move it; the manager may
    assert call(TEAMMATE_P, "get_opportunity", opportunity_id=opp["id"])["id"] == opp["id"]
    with pytest.raises(Forbidden):
        call(TEAMMATE_P, "change_stage", opportunity_id=opp["id"], stage="需求确认")
    moved = call(MANAGER_P, "change_stage", opportunity_id=opp["id"], stage="需求确认")
    assert moved["stage"] == "需求确认" and moved["owner_id"] == REP_A
    assert moved["stage_history"][-1]["actor_id"] == MANAGER
    assert [o["id"] for o in call(ADMIN_P, "list_opportunities")["items"]] == [opp["id"]]


def test_invalid_input_is_422_with_fields(call):
    cases = [
        ({"amount": "-1"}, "amount"), ({"amount": "abc"}, "amount"),
        ({"amount": "1.234"}, "amount"), ({"amount": None}, "amount"),
        ({"customer_id": ""}, "customer_id"), ({"name": "   "}, "name"),
        ({"expected_close_date": "明天"}, "expected_close_date"), ({"currency": "USD"}, "currency"),
    ]
    for overrides, field in cases:
        with pytest.raises(ValidationFailed) as err:
            new_opportunity(call, **overrides)
        assert field in [d["field"] for d in err.value.details], (overrides, err.value.details)
    with pytest.raises(ValidationFailed) as err:
        new_opportunity(call, pipeline_id="0190000000007000800000000000dead")
    assert err.value.code == "unknown_pipeline"
    with pytest.raises(ValidationFailed):
        call(REP_A_P, "create_opportunity", data="not an object")
    with pytest.raises(Forbidden):
        new_opportunity(call, who=principal(REP_A, "finance"))
    assert new_opportunity(call, amount=0)["amount"] == "0.00"
    assert new_opportunity(call, expected_close_date=None)["expected_close_date"] is None


def test_list_pages_newest_first_and_filters(call):
    customer = "01900000000070008000000000c0ffee"
    ids = [new_opportunity(call, customer_id=customer, name=f"商机{i}")["id"] for i in range(5)]
    other = new_opportunity(call)
    call(REP_A_P, "change_stage", opportunity_id=ids[0], stage="赢单")

    seen, cursor = [], None
    while True:
        page = call(REP_A_P, "list_opportunities", customer_id=customer, cursor=cursor, limit=2)
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert [o["id"] for o in call(REP_A_P, "list_opportunities", status="won")["items"]] == [
        ids[0]]
    assert other["id"] in [o["id"] for o in call(REP_A_P, "list_opportunities",
                                                  status="open")["items"]]
    for kwargs in ({"status": "closed"}, {"limit": 0}, {"limit": 201}, {"cursor": "@@"}):
        with pytest.raises(ValidationFailed):
            call(REP_A_P, "list_opportunities", **kwargs)


def test_rpc_over_the_wire(container, rabbit_config):
    """The gateway's view: Nameko's AMQP RPC protocol with the principal header."""
    uri = rabbit_config["AMQP_URI"]
    assert wire_call(uri, "sales", "ping", {}) == {"result": {"service": "sales", "ok": True},
                                                   "error": None}
    reply = wire_call(uri, "sales", "create_opportunity", {"data": {
        "customer_id": "01900000000070008000000000c00001", "name": "智慧园区项目",
        "amount": 880000}}, REP_A_P)
    assert reply["error"] is None
    opp = reply["result"]
    assert opp["owner_id"] == REP_A and opp["amount"] == "880000.00"

    reply = wire_call(uri, "sales", "get_opportunity", {"opportunity_id": opp["id"]}, REP_B_P)
    assert reply["result"] is None
    assert reply["error"]["exc_path"] == "crmkit.errors.NotFound"
    error = from_remote(reply["error"])
    assert isinstance(error, NotFound) and error.status == 404
    assert error.code == "opportunity_not_found"

    reply = wire_call(uri, "sales", "change_stage",
                      {"opportunity_id": opp["id"], "stage": "输单"}, REP_A_P)
    error = from_remote(reply["error"])
    assert error.status == 422 and error.code == "lost_reason_required"
    assert error.details == [{"field": "lost_reason", "message": "required"}]


@pytest.fixture
def pg_url():
    url = create_database("crm_sales")
    yield url
    drop_database(url)


def test_on_postgresql_replicas_and_racing_moves(container_factory, service_config, pg_url):
    """Two replicas start together on one PostgreSQL store: one default pipeline. Two
    closing moves race on one opportunity: exactly one wins, the other is 409."""
    config = service_config("sales", database_url=pg_url)
    replicas = [container_factory(SalesService, config) for _ in range(2)]
    pool = eventlet.GreenPool()
    for replica in replicas:
        pool.spawn(replica.start)
    pool.waitall()

    def call(replica, context, method, **kwargs):
        with entrypoint_hook(replica, method, context_data=context) as hook:
            return hook(**kwargs)

    for replica in replicas:
        items = call(replica, REP_A_P, "list_pipelines")["items"]
        assert [(p["name"], p["is_default"]) for p in items] == [("默认销售流程", True)]

    for _ in range(3):
        opp = call(replicas[0], REP_A_P, "create_opportunity", data={
            "customer_id": "01900000000070008000000000c00001", "name": "数据中心扩容",
            "amount": "3500000.50"})
        assert opp["amount"] == "3500000.50"
        outcomes = []

        def move(replica, stage, reason, opp_id=opp["id"], outcomes=outcomes):
            try:
                call(replica, REP_A_P, "change_stage", opportunity_id=opp_id, stage=stage,
                     lost_reason=reason)
                outcomes.append(stage)
            except Conflict as exc:
                outcomes.append(exc.code)

        pool.spawn(move, replicas[0], "赢单", None)
        pool.spawn(move, replicas[1], "输单", "选择了竞品")
        pool.waitall()
        assert sorted(outcomes, key=len) in (["赢单", "opportunity_closed"],
                                             ["输单", "opportunity_closed"])
        final = call(replicas[1], REP_A_P, "get_opportunity", opportunity_id=opp["id"])
        assert final["stage"] in ("赢单", "输单") and len(final["stage_history"]) == 2
