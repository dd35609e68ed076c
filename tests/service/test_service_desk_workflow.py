"""Service tests of the service desk's workflows on the real broker and a real store: the
ticket lifecycle, SLA alerts raised once by concurrent jobs, the ``contract.signed``
projection and returns against it, work orders and their calendar, customer merges.

Run: ``nameko test tests/service/test_service_desk_workflow.py -q -p no:cacheprovider``.
"""
from __future__ import annotations

import json
import time
from datetime import datetime

import eventlet
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.ids import new_id
from services.service_desk.service import ServiceDeskService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap, principal, publish_event

AGENT_A = "01900000000070008000000000000a01"
AGENT_B = "01900000000070008000000000000b02"
REP = "01900000000070008000000000000c03"
BOSS = "01900000000070008000000000000d04"
TEAM = "01900000000070008000000000000e05"
CUSTOMER = "01900000000070008000000000c00001"
OTHER_CUSTOMER = "01900000000070008000000000c00002"

A = principal(AGENT_A, "service", team_id=TEAM)
B = principal(AGENT_B, "service", team_id=TEAM)
R = principal(REP, "sales", team_id=TEAM)
BOSS_P = principal(BOSS, "manager", [BOSS, AGENT_A, AGENT_B, REP], TEAM)
ADMIN = principal(BOSS, "admin", None, TEAM)
FINANCE = principal("01900000000070008000000000000f06", "finance", None)

MONDAY_10 = datetime.fromisoformat("2026-03-09T10:00:00+08:00")


def bj(value: str) -> datetime:
    return datetime.fromisoformat(value + "+08:00")


@pytest.fixture
def desk(container_factory, service_config):
    container = container_factory(ServiceDeskService, service_config("service_desk"))
    container.start()
    return container


@pytest.fixture
def call(desk):
    def call(context, method, **kwargs):
        with entrypoint_hook(desk, method, context_data=context) as hook:
            return hook(**kwargs)
    return call


@pytest.fixture
def tap(rabbit_config):
    t = EventTap(rabbit_config["AMQP_URI"], "service_desk")
    yield t
    t.close()


def drain(tap, timeout: float = 2.0) -> list[dict]:
    """Every event the tap holds (waiting until nothing new came for a moment)."""
    got, quiet_since = [], time.monotonic()
    while time.monotonic() - quiet_since < timeout:
        message = tap.queue.get(no_ack=True)
        if message is None:
            time.sleep(0.05)
            continue
        got.append(json.loads(message.body))
        quiet_since = time.monotonic()
    return got


def new_ticket(call, who=A, **overrides):
    data = {"customer_id": CUSTOMER, "title": "打印机无法联网", "channel": "phone",
            "category": "fault", **overrides}
    return call(who, "create_ticket", data=data)


# --- tickets ---------------------------------------------------------------------------------

def test_ticket_lifecycle_with_comments_waiting_and_rating(call, tap, monkeypatch):
    monkeypatch.setenv("TICKET_REOPEN_DAYS", "7")
    with timeutil.freeze(MONDAY_10):
        ticket = new_ticket(call, who=R, priority="urgent")  # due 11:00 / 15:00
        assert ticket["status"] == "open" and ticket["assignee_id"] is None
        assigned = call(BOSS_P, "assign_ticket", ticket_id=ticket["id"], assignee_id=AGENT_A,
                        manager_id=BOSS)
        assert (assigned["assignee_id"], assigned["manager_id"]) == (AGENT_A, BOSS)
        note = call(A, "add_comment", ticket_id=ticket["id"],
                    data={"body": "内部备注：疑似固件问题", "internal": True})
        assert note["internal"] is True
        assert call(A, "get_ticket", ticket_id=ticket["id"])["first_responded_at"] is None
        with pytest.raises(Conflict):
            call(A, "resolve_ticket", ticket_id=ticket["id"])  # open → resolved: not allowed
    with timeutil.freeze(bj("2026-03-09T10:20:00")):
        started = call(A, "start_ticket", ticket_id=ticket["id"])
        assert started["status"] == "in_progress"
        assert started["first_responded_at"] == timeutil.iso(bj("2026-03-09T10:20:00"))
        call(A, "add_comment", ticket_id=ticket["id"],
             data={"body": "您好，请提供打印机型号", "internal": False})
    with timeutil.freeze(bj("2026-03-09T11:00:00")):
        waiting = call(A, "wait_ticket", ticket_id=ticket["id"])
        assert waiting["status"] == "waiting" and waiting["waiting_since"]
    # the customer answers the next morning: 11:00–12:00 and 13:00–18:00 Monday were paused
    with timeutil.freeze(bj("2026-03-10T09:30:00")):
        resumed = call(A, "resume_ticket", ticket_id=ticket["id"])
    assert resumed["status"] == "in_progress" and resumed["waiting_since"] is None
    assert resumed["paused_minutes"] == 60 + 300 + 30
    # resolution was due Monday 15:00: 180 business minutes were left when the wait began,
    # counted again from 09:30 Tuesday: 09:30–12:00 (150) + 13:00–13:30 (30)
    assert resumed["resolution_due"] == timeutil.iso(bj("2026-03-10T13:30:00"))
    comments = call(BOSS_P, "list_comments", ticket_id=ticket["id"])["items"]
    assert [c["internal"] for c in comments] == [True, False]
    assert [c["body"] for c in call(A, "list_comments", ticket_id=ticket["id"],
                                    internal=False)["items"]] == ["您好，请提供打印机型号"]
    with timeutil.freeze(bj("2026-03-10T10:00:00")):
        with pytest.raises(Conflict) as not_closed:
            call(R, "rate_ticket", ticket_id=ticket["id"], data={"score": 5})
        assert not_closed.value.code == "ticket_not_closed"
        assert call(A, "resolve_ticket", ticket_id=ticket["id"])["status"] == "resolved"
        closed = call(A, "close_ticket", ticket_id=ticket["id"])
        assert closed["status"] == "closed" and closed["closed_at"]
        with pytest.raises(ValidationFailed):
            call(R, "rate_ticket", ticket_id=ticket["id"], data={"score": 6})
        rated = call(R, "rate_ticket", ticket_id=ticket["id"],
                     data={"score": 4, "comment": "响应及时"})
        assert (rated["satisfaction_score"], rated["satisfaction_comment"]) == (4, "响应及时")
        with pytest.raises(Conflict):
            call(R, "rate_ticket", ticket_id=ticket["id"], data={"score": 5})
        with pytest.raises(Conflict):
            call(A, "add_comment", ticket_id=ticket["id"], data={"body": "x"})
    with timeutil.freeze(bj("2026-03-16T10:00:00")):  # 6 days after the resolution
        reopened = call(R, "reopen_ticket", ticket_id=ticket["id"])
        assert reopened["status"] == "reopened" and reopened["reopened_count"] == 1
        assert call(A, "start_ticket", ticket_id=ticket["id"])["status"] == "in_progress"
        call(A, "resolve_ticket", ticket_id=ticket["id"])
    with timeutil.freeze(bj("2026-03-23T10:00:01")):  # 7 days and a second later
        with pytest.raises(Conflict) as late:
            call(R, "reopen_ticket", ticket_id=ticket["id"])
        assert late.value.code == "reopen_window_passed"
    types = [e["type"] for e in drain(tap)]
    assert types == ["ticket.created", "ticket.assigned", "ticket.commented", "ticket.started",
                     "ticket.commented", "ticket.waiting", "ticket.resumed", "ticket.resolved",
                     "ticket.closed", "ticket.rated", "ticket.reopened", "ticket.started",
                     "ticket.resolved"]


def test_automatic_assignment_takes_the_least_loaded(call, tap):
    for _ in range(2):
        new_ticket(call, who=BOSS_P, assignee_id=AGENT_A)
    new_ticket(call, who=BOSS_P, assignee_id=AGENT_B)
    auto = new_ticket(call, who=BOSS_P, )
    assigned = call(BOSS_P, "assign_ticket", ticket_id=auto["id"],
                    candidates=[AGENT_A, AGENT_B], managers={AGENT_B: BOSS})
    assert (assigned["assignee_id"], assigned["manager_id"]) == (AGENT_B, BOSS)
    created = new_ticket(call, who=BOSS_P, priority="high")
    assert created["assignee_id"] is None  # no candidates: stays unassigned
    on_create = call(BOSS_P, "create_ticket", data={
        "customer_id": CUSTOMER, "title": "自动分配", "channel": "web", "category": "inquiry"},
        candidates=[AGENT_A, AGENT_B, REP])
    assert on_create["assignee_id"] == REP  # nobody's open tickets: zero
    with pytest.raises(ValidationFailed):
        call(BOSS_P, "assign_ticket", ticket_id=auto["id"])  # neither assignee nor candidates
    with pytest.raises(ValidationFailed) as outside:
        call(A, "assign_ticket", ticket_id=new_ticket(call)["id"], assignee_id=AGENT_B)
    assert outside.value.code == "unknown_assignee"
    with pytest.raises(Forbidden):
        call(R, "assign_ticket", ticket_id=auto["id"], assignee_id=REP)
    with pytest.raises(NotFound):
        call(B, "start_ticket", ticket_id=created["id"])  # not B's, not in B's scope
    assigned_events = [e for e in drain(tap) if e["type"] == "ticket.assigned"]
    assert len(assigned_events) == 1 and assigned_events[0]["data"]["automatic"] is True


def test_sla_policy_and_holidays_from_the_store(call):
    with pytest.raises(Forbidden):
        call(BOSS_P, "set_calendar_days", days=[{"date": "2026-03-10", "kind": "holiday"}])
    call(ADMIN, "set_calendar_days", days=[
        {"date": "2026-03-10", "kind": "holiday", "name": "测试假日"},
        {"date": "2026-03-14", "kind": "workday", "name": "调休"}])
    with pytest.raises(ValidationFailed):
        call(ADMIN, "set_calendar_days", days=[{"date": "2026-03-11", "kind": "party"}])
    assert [d["date"] for d in call(A, "list_calendar_days", year=2026)["items"]] == [
        "2026-03-10", "2026-03-14"]
    call(ADMIN, "set_sla_policy", data={"priority": "high", "category": "complaint",
                                        "first_response_minutes": 30,
                                        "resolution_minutes": 600})
    with pytest.raises(ValidationFailed):
        call(ADMIN, "set_sla_policy", data={"priority": "high", "first_response_minutes": 90,
                                            "resolution_minutes": 60})
    with timeutil.freeze(bj("2026-03-09T17:00:00")):
        complaint = new_ticket(call, priority="high", category="complaint")
        fault = new_ticket(call, priority="high", category="fault")
    assert complaint["first_response_due"] == timeutil.iso(bj("2026-03-09T17:30:00"))
    # 600 business minutes from Monday 17:00: 60 Monday, Tuesday is a holiday, 480 Wednesday,
    # 60 Thursday
    assert complaint["resolution_due"] == timeutil.iso(bj("2026-03-12T10:00:00"))
    assert fault["first_response_due"] == timeutil.iso(bj("2026-03-11T12:00:00"))
    policies = call(A, "list_sla_policies")["items"]
    assert {"priority": "high", "category": "complaint", "first_response_minutes": 30,
            "resolution_minutes": 600, "source": "store"} in policies
    call(ADMIN, "delete_calendar_day", day="2026-03-10")
    with pytest.raises(NotFound):
        call(ADMIN, "delete_calendar_day", day="2026-03-10")


@pytest.fixture
def pg_url():
    url = create_database("crm_desk_sla")
    yield url
    drop_database(url)


def test_sla_job_raises_each_alert_once_with_two_concurrent_runs(
        container_factory, service_config, pg_url, rabbit_config):
    """Two replicas on one PostgreSQL store run the job at the same moment: each ticket
    gets its warning and its breach exactly once; before the 80 % mark nothing."""
    containers = [container_factory(ServiceDeskService,
                                    service_config("service_desk", database_url=pg_url))
                  for _ in range(2)]
    for c in containers:
        c.start()
    tap = EventTap(rabbit_config["AMQP_URI"], "service_desk")

    def tick_both() -> list[int]:
        results = []

        def tick(container):
            with entrypoint_hook(container, "sla_tick") as hook:
                results.append(hook())

        pool = eventlet.GreenPool(2)
        for c in containers:
            pool.spawn(tick, c)
        pool.waitall()
        return results

    try:
        with timeutil.freeze(MONDAY_10):
            ids = []
            for i in range(4):
                with ServiceRpcProxy("service_desk", rabbit_config, context_data=BOSS_P) as p:
                    ids.append(p.create_ticket(data={
                        "customer_id": CUSTOMER, "title": f"宕机 {i}", "channel": "phone",
                        "category": "fault", "priority": "urgent", "assignee_id": AGENT_A},
                        manager_id=BOSS)["id"])
        # urgent: first response warned at 10:48, due 11:00; resolution warned 14:12, due 15:00
        with timeutil.freeze(bj("2026-03-09T10:47:00")):
            assert sum(tick_both()) == 0
        with timeutil.freeze(bj("2026-03-09T10:50:00")):
            assert sorted(tick_both()) in ([0, 4], [1, 3], [2, 2])
            assert sum(tick_both()) == 0
        with timeutil.freeze(bj("2026-03-09T11:00:00")):
            assert sum(tick_both()) == 4
        with timeutil.freeze(bj("2026-03-09T16:00:00")):  # resolution: straight to breached
            assert sum(tick_both()) == 4
            assert sum(tick_both()) == 0
        events = drain(tap)
        alerts = [(e["type"], e["data"]["ticket_id"], e["data"]["target"]) for e in events
                  if e["type"].startswith("ticket.sla_")]
        assert sorted(alerts) == sorted(
            [("ticket.sla_warning", t, "first_response") for t in ids]
            + [("ticket.sla_breached", t, "first_response") for t in ids]
            + [("ticket.sla_breached", t, "resolution") for t in ids]
            + [("ticket.sla_escalated", t, target) for t in ids
               for target in ("first_response", "first_response", "resolution")])
        breach = next(e for e in events if e["type"] == "ticket.sla_breached")
        assert breach["data"]["assignee_id"] == AGENT_A and breach["data"]["manager_id"] == BOSS
        assert breach["data"]["level"] == "breached" and breach["data"]["due_at"]
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from sla_alerts")).scalar() == 12
        engine.dispose()
    finally:
        tap.close()


def test_a_ticket_waiting_on_the_customer_raises_nothing(call):
    with timeutil.freeze(MONDAY_10):
        ticket = new_ticket(call, who=BOSS_P, priority="urgent", assignee_id=AGENT_A)
        call(A, "start_ticket", ticket_id=ticket["id"])
        call(A, "wait_ticket", ticket_id=ticket["id"])
    with timeutil.freeze(bj("2026-03-09T18:00:00")):
        assert call(ADMIN, "sla_tick") == 0


# --- returns ---------------------------------------------------------------------------------

def contract_signed(contract_id: str, event_id: str | None = None) -> dict:
    return {"id": event_id or new_id(), "type": "contract.signed", "version": 1,
            "occurred_at": "2026-03-01T02:00:00+00:00", "source": "sales", "actor_id": REP,
            "correlation_id": "corr-contract", "data": {
                "contract_id": contract_id, "number": "HT-2026-000001",
                "customer_id": CUSTOMER, "owner_id": REP, "team_id": TEAM,
                "total": "25000.00", "currency": "CNY", "signed_at": "2026-03-01T02:00:00+00:00",
                "lines": [
                    {"line_id": contract_id[:-2] + "l1", "product_id": "P1", "sku": "PRN-01",
                     "name": "工业打印机", "quantity": "10", "unit_price": "2000.00",
                     "amount": "20000.00"},
                    {"line_id": contract_id[:-2] + "l2", "product_id": "P2", "sku": "INK-01",
                     "name": "墨盒", "quantity": "5", "unit_price": "1000.00",
                     "amount": "5000.00"}]}}


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except ValidationFailed:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met")


def test_contract_projection_and_returns(call, desk, rabbit_config, tap):
    contract_id = new_id()
    l1, l2 = contract_id[:-2] + "l1", contract_id[:-2] + "l2"
    request = {"contract_id": contract_id, "customer_id": CUSTOMER,
               "lines": [{"line_id": l1, "quantity": "4", "reason": "外壳破损"}]}
    with pytest.raises(ValidationFailed) as unknown:
        call(R, "create_return", data=request)
    assert unknown.value.code == "unknown_contract"
    envelope = contract_signed(contract_id)
    for env in (envelope, envelope, contract_signed(contract_id)):  # redelivered, re-sent
        publish_event(rabbit_config["AMQP_URI"], env)
    first = eventually(lambda: call(R, "create_return", data=request))
    assert first["status"] == "requested" and first["number"].startswith("RT-")
    assert first["total_value"] == "8000.00" and first["lines"][0]["quantity"] == "4"
    # a second request: pending ones do not count yet, but approval checks again
    second = call(R, "create_return", data={**request, "lines": [
        {"line_id": l1, "quantity": "7"}, {"line_id": l2, "quantity": "5"}]})
    with pytest.raises(ValidationFailed) as too_many:
        call(R, "create_return", data={**request, "lines": [{"line_id": l1, "quantity": "11"}]})
    assert too_many.value.code == "quantity_exceeds_remaining"
    for bad, code in (({**request, "customer_id": OTHER_CUSTOMER}, "contract_customer_mismatch"),
                      ({**request, "lines": [{"line_id": "nope", "quantity": "1"}]},
                       "unknown_line"),
                      ({**request, "lines": [{"line_id": l1, "quantity": "0"}]},
                       "validation_error"),
                      ({**request, "lines": []}, "validation_error")):
        with pytest.raises(ValidationFailed) as err:
            call(R, "create_return", data=bad)
        assert err.value.code == code
    with pytest.raises(Forbidden):
        call(R, "act_on_return", return_id=first["id"], action="approve")
    assert call(BOSS_P, "act_on_return", return_id=first["id"], action="approve")[
        "status"] == "approved"
    with pytest.raises(ValidationFailed) as exceeds:  # 4 approved + 7 > 10 sold
        call(BOSS_P, "act_on_return", return_id=second["id"], action="approve")
    assert exceeds.value.code == "quantity_exceeds_remaining"
    assert call(BOSS_P, "get_return", return_id=second["id"])["status"] == "requested"
    call(BOSS_P, "act_on_return", return_id=second["id"], action="reject")
    with pytest.raises(Conflict):
        call(BOSS_P, "act_on_return", return_id=first["id"], action="refund",
             data={"amount": "100.00"})  # not received yet
    call(BOSS_P, "act_on_return", return_id=first["id"], action="receive")
    with pytest.raises(ValidationFailed) as over:
        call(FINANCE, "act_on_return", return_id=first["id"], action="refund",
             data={"amount": "8000.01"})
    assert over.value.code == "refund_exceeds_value"
    refunded = call(FINANCE, "act_on_return", return_id=first["id"], action="refund",
                    data={"amount": "7800.00"})
    assert (refunded["status"], refunded["refund_amount"]) == ("refunded", "7800.00")
    closed = call(BOSS_P, "act_on_return", return_id=first["id"], action="close")
    assert (closed["status"], closed["outcome"]) == ("closed", "refunded")
    # rejected returns do not count; refunded-then-closed ones do: 6 of line 1 are left
    third = call(R, "create_return", data={**request, "lines": [
        {"line_id": l1, "quantity": "6"}, {"line_id": l2, "quantity": "5"}]})
    assert third["total_value"] == "17000.00"
    with pytest.raises(NotFound):
        call(B, "get_return", return_id=third["id"])  # not B's, not B's contract
    page = call(BOSS_P, "list_returns", customer_id=CUSTOMER, limit=2)
    assert [r["id"] for r in page["items"]] == [third["id"], second["id"]]
    assert call(BOSS_P, "list_returns", customer_id=CUSTOMER, cursor=page["next_cursor"])[
        "items"][0]["id"] == first["id"]
    assert call(BOSS_P, "list_returns", status="rejected")["items"][0]["id"] == second["id"]
    events = [e for e in drain(tap) if e["type"].startswith("return.")]
    assert [e["type"] for e in events] == [
        "return.requested", "return.requested", "return.approved", "return.rejected",
        "return.received", "return.refunded", "return.closed", "return.requested"]
    money = events[5]["data"]
    assert (money["refund_amount"], money["customer_id"], money["contract_id"]) == (
        "7800.00", CUSTOMER, contract_id)


# --- work orders -----------------------------------------------------------------------------

def test_work_orders_and_the_engineers_calendar(call, tap):
    data = {"customer_id": CUSTOMER, "kind": "installation", "assignee_id": AGENT_A,
            "scheduled_at": "2026-03-10T09:30:00+08:00", "address": "上海市浦东新区张江路 88 号",
            "notes": "安装 3 台设备"}
    late = call(BOSS_P, "create_work_order", data={**data, "kind": "repair",
                                                   "scheduled_at": "2026-03-10T16:30:00Z"})
    first = call(BOSS_P, "create_work_order", data=data)
    other = call(BOSS_P, "create_work_order", data={**data, "assignee_id": AGENT_B})
    assert first["status"] == "scheduled" and first["number"].startswith("WO-")
    assert first["business_day"] == "2026-03-10" and late["business_day"] == "2026-03-11"
    for bad in ({**data, "kind": "party"}, {**data, "scheduled_at": "2026-03-10T09:30:00"},
                {**data, "contract_id": new_id()}):
        with pytest.raises(ValidationFailed):
            call(BOSS_P, "create_work_order", data=bad)
    with pytest.raises(ValidationFailed):
        call(A, "create_work_order", data={**data, "assignee_id": AGENT_B})  # out of scope
    with pytest.raises(Conflict):
        call(A, "act_on_work_order", work_order_id=first["id"], action="complete",
             data={"workload_hours": "2", "result": "x"})
    call(A, "act_on_work_order", work_order_id=first["id"], action="start")
    for bad in ({"workload_hours": "0", "result": "ok"}, {"workload_hours": "-1", "result": "ok"},
                {"workload_hours": "2.5"}):
        with pytest.raises(ValidationFailed):
            call(A, "act_on_work_order", work_order_id=first["id"], action="complete",
                 data=bad)
    done = call(A, "act_on_work_order", work_order_id=first["id"], action="complete",
                data={"workload_hours": "2.5", "result": "安装调试完成，客户签字确认"})
    assert (done["status"], done["workload_hours"]) == ("completed", "2.50")
    with pytest.raises(NotFound):
        call(B, "get_work_order", work_order_id=first["id"])
    cal = call(A, "calendar", start="2026-03-09", end="2026-03-12")
    assert [(d["date"], [w["id"] for w in d["items"]]) for d in cal["days"]] == [
        ("2026-03-10", [first["id"]]), ("2026-03-11", [late["id"]])]
    assert call(B, "calendar", start="2026-03-10", end="2026-03-10")["days"][0]["items"][0][
        "id"] == other["id"]
    with pytest.raises(ValidationFailed):
        call(A, "calendar", start="2026-03-12", end="2026-03-09")
    listed = call(BOSS_P, "list_work_orders", assignee_id=AGENT_A,
                  start="2026-03-10T00:00:00+08:00", end="2026-03-11T00:00:00+08:00")
    assert [w["id"] for w in listed["items"]] == [first["id"]]
    assert len(call(BOSS_P, "list_work_orders", customer_id=CUSTOMER)["items"]) == 3
    assert call(A, "act_on_work_order", work_order_id=late["id"], action="cancel")[
        "status"] == "cancelled"
    types = [e["type"] for e in drain(tap)]
    assert types == ["work_order.scheduled"] * 3 + ["work_order.started", "work_order.completed",
                                                    "work_order.cancelled"]


# --- customer merges ---------------------------------------------------------------------------

def test_customer_merge_repoints_everything_once(call, rabbit_config, tap):
    ticket = new_ticket(call, customer_id=OTHER_CUSTOMER)
    order = call(A, "create_work_order", data={
        "customer_id": OTHER_CUSTOMER, "kind": "test", "assignee_id": AGENT_A,
        "scheduled_at": "2026-03-10T09:30:00+08:00"})
    merged = {"id": new_id(), "type": "customer.merged", "version": 1,
              "occurred_at": "2026-03-09T02:00:00+00:00", "source": "customers",
              "actor_id": BOSS, "correlation_id": "corr-merge",
              "data": {"survivor_id": CUSTOMER, "merged_id": OTHER_CUSTOMER, "owner_id": REP}}
    publish_event(rabbit_config["AMQP_URI"], merged)
    publish_event(rabbit_config["AMQP_URI"], merged)
    eventually(lambda: call(A, "get_ticket", ticket_id=ticket["id"])["customer_id"] == CUSTOMER)
    assert call(A, "get_work_order", work_order_id=order["id"])["customer_id"] == CUSTOMER
    repointed = [e for e in drain(tap) if e["type"] == "service_desk.customer_merged"]
    assert len(repointed) == 1
    assert repointed[0]["data"]["tickets"] == 1 and repointed[0]["data"]["work_orders"] == 1
    assert call(A, "list_tickets", customer_id=OTHER_CUSTOMER)["items"] == []
