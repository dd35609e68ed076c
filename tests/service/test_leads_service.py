"""The leads service in a real container on the real broker."""
from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crmkit.errors import Conflict, NotFound
from crmkit.ids import new_id
from services.leads.service import LeadsService
from tests.service.conftest import EventTap, principal, publish_event


@pytest.fixture
def leads(container_factory, service_config):
    container = container_factory(LeadsService, service_config("leads"))
    container.start()
    return container


def call(container, method, user="rep1", role="sales", **kwargs):
    with entrypoint_hook(container, method, context_data=principal(user, role)) as hook:
        return hook(**kwargs)


def test_business_path_and_events_reach_the_broker(leads, rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"], "leads")
    try:
        lead = call(leads, "create_lead", data={"name": "张伟", "company": "上海星辰科技有限公司",
                                                 "phone": "+86-138-0013-8000", "source": "expo"})
        assert lead["owner_id"] is None and lead["status"] == "new"
        created = tap.wait_for("lead.created")
        assert created["data"]["lead_id"] == lead["id"] and created["actor_id"] == "rep1"

        claimed = call(leads, "claim_lead", lead_id=lead["id"])
        assert claimed["owner_id"] == "rep1" and claimed["follow_up_deadline"]
        follow = call(leads, "add_follow_up", lead_id=lead["id"],
                      data={"kind": "call", "content": "电话沟通需求"})
        assert follow["kind"] == "call"
        converted = call(leads, "convert_lead", lead_id=lead["id"])
        assert converted["status"] == "converted"
        event = tap.wait_for("lead.converted")
        assert event["data"]["phone"] == "+86-138-0013-8000"
        assert event["data"]["owner_id"] == "rep1"
    finally:
        tap.close()


def test_other_rep_sees_nothing_of_mine(leads):
    lead = call(leads, "create_lead", data={"name": "李娜", "email": "ln@example.cn"})
    call(leads, "claim_lead", lead_id=lead["id"])
    with pytest.raises(NotFound):
        call(leads, "get_lead", user="rep2", lead_id=lead["id"])
    assert call(leads, "list_leads", user="rep2", scope="all")["items"] == []
    assert [i["id"] for i in call(leads, "list_leads", scope="mine")["items"]] == [lead["id"]]


def test_concurrent_claims_one_winner(leads, rabbit_config):
    """50 green-thread RPC calls through the broker at once: exactly one owner."""
    lead = call(leads, "create_lead", data={"name": "王芳", "phone": "13912345678"})
    outcomes = []

    def claim(i):
        with ServiceRpcProxy("leads", rabbit_config,
                             context_data=principal(f"rep{i}")) as proxy:
            try:
                proxy.claim_lead(lead_id=lead["id"])
                outcomes.append("won")
            except RemoteError as exc:
                outcomes.append(exc.exc_type)

    pool = eventlet.GreenPool(50)
    for i in range(50):
        pool.spawn(claim, i)
    pool.waitall()
    assert outcomes.count("won") == 1
    assert outcomes.count("Conflict") == 49


def test_domain_errors_cross_the_wire_typed(leads):
    with pytest.raises(Conflict) as err:
        call(leads, "release_lead", lead_id=call(
            leads, "create_lead", data={"name": "周杰"})["id"], reason="不需要")
    assert err.value.code == "lead_in_pool"


def test_customer_created_links_the_lead_once(leads, rabbit_config):
    lead = call(leads, "create_lead", data={"name": "陈静", "email": "cj@example.cn"})
    event = {"id": new_id(), "type": "customer.created", "version": 1,
             "occurred_at": "2026-11-24T00:00:00+00:00", "source": "customers",
             "actor_id": None, "correlation_id": "c-1",
             "data": {"customer_id": "CUST1", "lead_id": lead["id"], "owner_id": "rep1"}}
    with entrypoint_waiter(leads, "on_customer_created"):
        publish_event(rabbit_config["AMQP_URI"], event)
    second = {**event, "data": {**event["data"], "customer_id": "CUST2"}}
    with entrypoint_waiter(leads, "on_customer_created"):
        publish_event(rabbit_config["AMQP_URI"], second)  # same event id: ignored
    assert call(leads, "get_lead", role="admin", user="a",
                lead_id=lead["id"])["customer_id"] == "CUST1"


def test_metrics_are_exported_on_the_service_port(container_factory, service_config):
    import re
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    container = container_factory(LeadsService, service_config("leads", metrics_port=port))
    container.start()

    def value(text: str, name: str, **labels) -> float:
        """A sample's value (0 when absent); counters are per process, so tests use deltas."""
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line
                                                     for k, v in labels.items()):
                return float(re.split(r"\s+", line)[-1])
        return 0.0

    def scrape() -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()

    calls = dict(service="leads", kind="rpc", method="create_lead")
    errors = dict(service="leads", kind="rpc", method="get_lead", error="NotFound")
    published = dict(service="leads", type="lead.created")
    before = scrape()
    call(container, "create_lead", data={"name": "指标测试", "phone": "13700000000"})
    with pytest.raises(NotFound):
        call(container, "get_lead", lead_id="missing")
    with eventlet.Timeout(10):
        while value(scrape(), "crm_events_published_total", **published) \
                == value(before, "crm_events_published_total", **published):
            eventlet.sleep(0.05)
    after = scrape()
    assert value(after, "crm_entrypoint_calls_total", **calls) \
        == value(before, "crm_entrypoint_calls_total", **calls) + 1
    assert value(after, "crm_entrypoint_errors_total", **errors) \
        == value(before, "crm_entrypoint_errors_total", **errors) + 1
    assert value(after, "crm_entrypoint_duration_seconds_count", **calls) \
        == value(before, "crm_entrypoint_duration_seconds_count", **calls) + 1
    assert value(after, "crm_outbox_backlog", service="leads") == 0.0
