"""The customers service on the real broker: idempotent consumption, retries, dead letters."""
from __future__ import annotations

import time

import eventlet
import kombu
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crmkit.errors import NotFound
from crmkit.ids import new_id
from services.customers.service import CustomersService
from tests.service.conftest import EventTap, principal, publish_event


def lead_converted(lead_id: str, owner: str = "rep1", **data) -> dict:
    return {"id": new_id(), "type": "lead.converted", "version": 1,
            "occurred_at": "2026-11-24T02:00:00+00:00", "source": "leads", "actor_id": owner,
            "correlation_id": new_id(),
            "data": {"lead_id": lead_id, "name": "张伟", "company": "上海星辰科技有限公司",
                     "title": "采购经理", "phone": "138 0013 8000", "email": "zw@xc.cn",
                     "source": "expo", "owner_id": owner, "tags": [], **data}}


def call(container, method, user="rep1", role="sales", **kwargs):
    with entrypoint_hook(container, method, context_data=principal(user, role)) as hook:
        return hook(**kwargs)


@pytest.fixture
def customers(container_factory, service_config):
    container = container_factory(CustomersService, service_config(
        "customers", event_max_attempts=3, event_retry_delay_ms=100))
    container.start()
    return container


def test_one_customer_per_lead_however_often_the_event_arrives(customers, rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"], "customers")
    uri = rabbit_config["AMQP_URI"]
    event = lead_converted("LEAD-1")
    with entrypoint_waiter(customers, "on_lead_converted"):
        publish_event(uri, event)
    with entrypoint_waiter(customers, "on_lead_converted"):
        publish_event(uri, event)                       # the same delivery again
    retry = {**event, "id": new_id()}                    # a new event id for the same lead
    with entrypoint_waiter(customers, "on_lead_converted"):
        publish_event(uri, retry)
    page = call(customers, "list_customers", scope="mine")
    assert len(page["items"]) == 1
    customer = call(customers, "get_customer", customer_id=page["items"][0]["id"])
    assert customer["lead_id"] == "LEAD-1" and customer["owner_id"] == "rep1"
    assert customer["name"] == "上海星辰科技有限公司" and customer["credit_limit"] == "0.00"
    assert [c["name"] for c in customer["contacts"]] == ["张伟"]
    assert customer["contacts"][0]["is_primary"] is True
    created = tap.wait_for("customer.created")
    assert created["data"]["lead_id"] == "LEAD-1"
    assert created["correlation_id"] == event["correlation_id"]   # carried through the event
    tap.close()
    with pytest.raises(NotFound):
        call(customers, "get_customer", user="rep2", customer_id=customer["id"])


def test_poison_event_is_retried_then_dead_lettered(customers, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    poison = lead_converted("LEAD-X")
    del poison["data"]["name"]                            # handler raises KeyError every time
    publish_event(uri, poison)
    queue_name = "evt-leads-lead.converted--customers.on_lead_converted.dlq"
    deadline = time.monotonic() + 15
    with kombu.Connection(uri) as conn:
        while time.monotonic() < deadline:
            message = conn.SimpleQueue(queue_name).get(block=True, timeout=0.5) \
                if _depth(conn, queue_name) else None
            if message is not None:
                assert message.headers["x-crm-attempts"] == 3
                assert "KeyError" in message.headers["x-crm-last-error"]
                assert message.payload["id"] == poison["id"]
                message.ack()
                break
            eventlet.sleep(0.1)
        else:
            raise AssertionError("poison event never reached the dead-letter queue")
    with entrypoint_hook(customers, "list_customers",
                         context_data=principal("boss", "admin", visible=None)) as hook:
        assert hook(scope="all")["items"] == []          # the failed handler changed nothing


def _depth(conn, queue_name: str) -> int:
    return conn.default_channel.queue_declare(queue_name, passive=True).message_count


def test_concurrent_writers_on_sqlite_do_not_lock_each_other_out(customers, rabbit_config):
    """40 RPCs write at once through one green-locked SQLite connection: all succeed."""
    results = []

    def create(i):
        with ServiceRpcProxy("customers", rabbit_config, context_data=principal("rep1")) as p:
            results.append(p.create_customer(
                data={"name": f"深圳测试{i}号有限公司", "phone": f"1380000{i:04d}"})["id"])

    pool = eventlet.GreenPool(40)
    for i in range(40):
        pool.spawn(create, i)
    pool.waitall()
    assert len(set(results)) == 40
    listed = call(customers, "list_customers", scope="mine", limit=200)["items"]
    assert {c["id"] for c in listed} == set(results)


def test_duplicate_warning_on_create(customers):
    first = call(customers, "create_customer", data={"name": "北京华信科技有限公司",
                                                      "phone": "010-6888 1234"})
    second = call(customers, "create_customer", data={"name": "北京华信科技",
                                                       "phone": "01068881234"})
    assert {d["matched_on"] for d in second["duplicates"]} == {"name", "phone"}
    assert {d["id"] for d in second["duplicates"]} == {first["id"]}
