"""Service tests of the service desk: the real service in a Nameko container, a real RabbitMQ,
a real store.

Tier: service (see tests/service/conftest.py). RPC entrypoints are called with
``entrypoint_hook`` carrying a caller's principal, and through the broker with Nameko's
``ServiceRpcProxy`` where concurrency matters. Events are read from the
``service_desk.events`` exchange, so what is asserted is what RabbitMQ really delivered.

Run: ``nameko test tests/service/test_service_desk_service.py`` (eventlet monkey-patched).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from crmkit import timeutil
from crmkit.errors import Forbidden, NotFound, ValidationFailed
from services.service_desk.service import ServiceDeskService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap, principal

AGENT_A = "01900000000070008000000000000a01"
AGENT_B = "01900000000070008000000000000b02"
AGENT_C = "01900000000070008000000000000c03"
SUPERVISOR = "01900000000070008000000000000d04"
TEAM = "01900000000070008000000000000e05"
CUSTOMER = "01900000000070008000000000c00001"

A = principal(AGENT_A, "service", team_id=TEAM)
B = principal(AGENT_B, "service", team_id=TEAM)
C = principal(AGENT_C, "sales", team_id=TEAM)
SUPERVISOR_P = principal(SUPERVISOR, "manager", [SUPERVISOR, AGENT_A, AGENT_B], TEAM)
ADMIN = principal(SUPERVISOR, "admin", None, TEAM)

ENVELOPE = {"id", "type", "version", "occurred_at", "source", "actor_id", "correlation_id",
            "data"}
TICKET_FIELDS = {"ticket_id", "number", "customer_id", "owner_id", "assignee_id", "title",
                 "channel", "category", "priority", "status", "first_response_due",
                 "resolution_due"}
MONDAY_9 = datetime.fromisoformat("2026-03-09T09:00:00+08:00")  # business hours 9–12, 13–18
SLA_DUE = {  # opened Monday 09:00 Beijing: (first response, resolution), business hours
    "urgent": ("2026-03-09T10:00:00+08:00", "2026-03-09T14:00:00+08:00"),
    "high": ("2026-03-09T14:00:00+08:00", "2026-03-10T18:00:00+08:00"),
    "normal": ("2026-03-09T18:00:00+08:00", "2026-03-11T18:00:00+08:00"),
    "low": ("2026-03-10T18:00:00+08:00", "2026-03-13T18:00:00+08:00"),
}


@pytest.fixture
def desk(container_factory, service_config):
    container = container_factory(ServiceDeskService, service_config("service_desk"))
    container.start()
    return container


@pytest.fixture
def call(desk):
    """``call(context, method, **kwargs)``: one RPC entrypoint call as that caller."""
    def call(context, method, **kwargs):
        with entrypoint_hook(desk, method, context_data=context) as hook:
            return hook(**kwargs)
    return call


def new_ticket(call, who=A, **overrides):
    data = {"customer_id": CUSTOMER, "contact_id": "01900000000070008000000000c0c001",
            "title": "打印机无法联网", "description": "客户电话反馈：新装的打印机连不上 Wi-Fi",
            "channel": "phone", "category": "fault", **overrides}
    return call(who, "create_ticket", data=data)


def hours_after(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)) / timedelta(hours=1)


def test_ticket_is_created_numbered_with_sla_and_announced(desk, call, rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"], "service_desk")
    try:
        with timeutil.freeze(datetime.fromisoformat("2026-03-09T10:00:00+08:00")):
            ticket = new_ticket(call, priority="urgent", owner_id=AGENT_C, status="closed",
                                number="TK-1999-000001",
                                first_response_due="2000-01-01T00:00:00Z")
        year = timeutil.business_day(datetime.fromisoformat(ticket["created_at"])).year
        assert ticket["number"] == f"TK-{year}-000001"
        assert ticket["status"] == "open" and ticket["priority"] == "urgent"
        assert ticket["owner_id"] == AGENT_A and ticket["team_id"] == TEAM  # client fields ignored
        assert ticket["assignee_id"] is None
        assert hours_after(ticket["first_response_due"], ticket["created_at"]) == 1
        # four business hours from 10:00: 10–12 and 13–15 (the lunch break does not count)
        assert hours_after(ticket["resolution_due"], ticket["created_at"]) == 5
        assert ticket["created_at"].endswith("+00:00")
        assert call(A, "get_ticket", ticket_id=ticket["id"]) == ticket

        event = tap.wait_for("ticket.created")
        assert set(event) == ENVELOPE
        assert (event["source"], event["version"], event["actor_id"]) == (
            "service_desk", 1, AGENT_A)
        assert event["correlation_id"] and event["occurred_at"].endswith("+00:00")
        assert TICKET_FIELDS <= set(event["data"])
        assert event["data"]["ticket_id"] == ticket["id"]
        assert event["data"]["number"] == ticket["number"]
        assert event["data"]["resolution_due"] == ticket["resolution_due"]
        assert event["data"]["status"] == "open"
    finally:
        tap.close()


def at(value: str) -> str:
    return timeutil.iso(datetime.fromisoformat(value))


def test_sla_deadlines_follow_priority_in_business_hours(call):
    with timeutil.freeze(MONDAY_9):
        for priority, (first_response, resolution) in SLA_DUE.items():
            ticket = new_ticket(call, priority=priority, category="inquiry", channel="wechat")
            assert ticket["first_response_due"] == at(first_response)
            assert ticket["resolution_due"] == at(resolution)
        default = new_ticket(call)
    assert default["priority"] == "normal"
    assert default["resolution_due"] == at(SLA_DUE["normal"][1])


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/service_desk.db"
        return
    url = create_database("crm_desk")
    yield url
    drop_database(url)


def test_numbers_are_unique_under_concurrent_creates(container_factory, service_config,
                                                     store_url, rabbit_config):
    """30 creates at once through the broker (16 workers each): 30 distinct, gapless numbers,
    on SQLite and on PostgreSQL with two replicas (SQLite's one-writer lock is per process;
    two engines on one file in one process would block the eventlet hub)."""
    for _ in range(2 if store_url.startswith("postgresql") else 1):
        container_factory(ServiceDeskService,
                          service_config("service_desk", database_url=store_url)).start()
    numbers, errors = [], []

    def create(i):
        with ServiceRpcProxy("service_desk", rabbit_config, context_data=A) as proxy:
            try:
                numbers.append(proxy.create_ticket(data={
                    "customer_id": CUSTOMER, "title": f"咨询 {i}", "channel": "web",
                    "category": "inquiry"})["number"])
            except RemoteError as exc:  # pragma: no cover - reported by the assertion
                errors.append(exc)

    pool = eventlet.GreenPool(30)
    for i in range(30):
        pool.spawn(create, i)
    pool.waitall()
    assert errors == []
    assert len(set(numbers)) == 30
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 31))
    assert all(re.fullmatch(r"TK-\d{4}-\d{6}", n) for n in numbers)


def test_numbers_restart_each_business_year(call, monkeypatch):
    """The year is Beijing's: 16:00 UTC on 31 December is already next year."""
    monkeypatch.setenv("CRM_TIMEZONE", "Asia/Shanghai")
    moments = [("2030-12-31T15:59:59+00:00", "TK-2030-000001"),
               ("2030-12-31T16:00:00+00:00", "TK-2031-000001"),
               ("2031-01-01T00:00:00+08:00", "TK-2031-000002"),
               ("2030-12-31T08:00:00+00:00", "TK-2030-000002")]
    for moment, number in moments:
        with timeutil.freeze(datetime.fromisoformat(moment)):
            ticket = new_ticket(call)
        assert ticket["number"] == number
        assert ticket["created_at"] == timeutil.iso(datetime.fromisoformat(moment))


def test_visible_to_owner_assignee_and_scope_only(call):
    ticket = new_ticket(call, who=SUPERVISOR_P, assignee_id=AGENT_B)
    assert ticket["owner_id"] == SUPERVISOR and ticket["assignee_id"] == AGENT_B

    assert call(B, "get_ticket", ticket_id=ticket["id"])["id"] == ticket["id"]  # assignee
    assert [t["id"] for t in call(B, "list_tickets")["items"]] == [ticket["id"]]
    assert call(SUPERVISOR_P, "get_ticket", ticket_id=ticket["id"])["id"] == ticket["id"]
    assert call(ADMIN, "get_ticket", ticket_id=ticket["id"])["id"] == ticket["id"]
    manager_of_a = principal("01900000000070008000000000000f06", "manager",
                             ["01900000000070008000000000000f06", AGENT_A], TEAM)
    for outsider in (A, C, manager_of_a):
        with pytest.raises(NotFound) as err:
            call(outsider, "get_ticket", ticket_id=ticket["id"])
        assert err.value.code == "ticket_not_found"
        assert call(outsider, "list_tickets", customer_id=CUSTOMER)["items"] == []
    with pytest.raises(NotFound):
        call(A, "get_ticket", ticket_id="0190000000007000800000000000dead")

    # a manager whose scope covers the assignee sees it
    manager_of_b = principal("01900000000070008000000000000f07", "manager",
                             ["01900000000070008000000000000f07", AGENT_B], TEAM)
    assert call(manager_of_b, "get_ticket", ticket_id=ticket["id"])["id"] == ticket["id"]


def test_assignee_must_be_visible_to_the_caller(call):
    with pytest.raises(ValidationFailed) as err:
        new_ticket(call, who=A, assignee_id=AGENT_B)
    assert err.value.code == "unknown_assignee"
    assert err.value.details[0]["field"] == "assignee_id"
    assert new_ticket(call, who=A, assignee_id=AGENT_A)["assignee_id"] == AGENT_A
    assert call(A, "list_tickets")["items"][0]["assignee_id"] == AGENT_A


def test_invalid_input_is_422_with_fields(call):
    cases = [
        ({"channel": "fax"}, "channel"), ({"category": "praise"}, "category"),
        ({"priority": "critical"}, "priority"), ({"title": "  "}, "title"),
        ({"customer_id": None}, "customer_id"), ({"channel": None}, "channel"),
        ({"title": "长" * 201}, "title"),
    ]
    for overrides, field in cases:
        with pytest.raises(ValidationFailed) as err:
            new_ticket(call, **overrides)
        assert field in [d["field"] for d in err.value.details], (overrides, err.value.details)
    with pytest.raises(ValidationFailed):
        call(A, "create_ticket", data=["not", "an", "object"])
    with pytest.raises(Forbidden):
        new_ticket(call, who=principal(AGENT_A, "finance"))
    assert call(ADMIN, "list_tickets")["items"] == []  # nothing half-created


def test_list_pages_newest_first_and_filters(call):
    ids = [new_ticket(call, title=f"反馈 {i}")["id"] for i in range(5)]
    other = new_ticket(call, customer_id="01900000000070008000000000c00002")
    seen, cursor = [], None
    while True:
        page = call(A, "list_tickets", customer_id=CUSTOMER, cursor=cursor, limit=2)
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert [t["id"] for t in call(A, "list_tickets", status="open")["items"]] == [
        other["id"], *reversed(ids)]
    assert call(A, "list_tickets", status="resolved")["items"] == []
    for kwargs in ({"status": "pending"}, {"limit": 0}, {"limit": "x"}, {"cursor": "%%"}):
        with pytest.raises(ValidationFailed):
            call(A, "list_tickets", **kwargs)


def test_errors_cross_the_broker_as_domain_errors(desk, rabbit_config):
    with ServiceRpcProxy("service_desk", rabbit_config) as proxy:
        assert proxy.ping() == {"service": "service_desk", "ok": True}
    with ServiceRpcProxy("service_desk", rabbit_config, context_data=A) as proxy:
        ticket = proxy.create_ticket(data={"customer_id": CUSTOMER, "title": "投诉配送延迟",
                                           "channel": "email", "category": "complaint",
                                           "priority": "high"})
        assert ticket["number"].startswith("TK-") and ticket["owner_id"] == AGENT_A
    with ServiceRpcProxy("service_desk", rabbit_config, context_data=C) as proxy:
        with pytest.raises(RemoteError) as err:
            proxy.get_ticket(ticket_id=ticket["id"])
    assert err.value.exc_type == "NotFound"
    assert "ticket_not_found" in err.value.value
