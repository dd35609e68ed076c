"""The customers service on the real broker: status from contract.signed and churn events,
reminders of due plans (exactly once with two replicas), merge, pool claims."""
from __future__ import annotations

from datetime import timedelta

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound
from crmkit.ids import new_id
from crmkit.uow import Database
from services.customers import handlers_plans
from services.customers.service import CustomersService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap, principal, publish_event


def envelope(source: str, event_type: str, data: dict) -> dict:
    return {"id": new_id(), "type": event_type, "version": 1,
            "occurred_at": timeutil.iso(timeutil.now()), "source": source, "actor_id": None,
            "correlation_id": new_id(), "data": data}


def signed(customer_id: str, contract_id: str) -> dict:
    return envelope("sales", "contract.signed", {
        "contract_id": contract_id, "customer_id": customer_id, "owner_id": "rep1",
        "number": f"HT-{contract_id}", "total": "128000.00",
        "signed_at": timeutil.iso(timeutil.now())})


def call(container, method, user="rep1", role="sales", visible="own", **kwargs):
    with entrypoint_hook(container, method,
                         context_data=principal(user, role, visible=visible)) as hook:
        return hook(**kwargs)


@pytest.fixture
def customers(container_factory, service_config):
    container = container_factory(CustomersService, {
        **service_config("customers", event_max_attempts=3, event_retry_delay_ms=100),
        "CUSTOMERS_JOBS": False})
    container.start()
    return container


def test_contract_signed_makes_deal_then_repeat_once_per_contract(customers, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    tap = EventTap(uri, "customers", "customer.status_changed")
    customer = call(customers, "create_customer", data={"name": "杭州云帆电子有限公司"})
    first = signed(customer["id"], "K1")
    for event in (first, first, {**first, "id": new_id()}):     # redelivery, new event id
        with entrypoint_waiter(customers, "on_contract_signed"):
            publish_event(uri, event)
    got = call(customers, "get_customer", customer_id=customer["id"])
    assert got["status"] == "deal" and got["last_deal_at"] is not None
    with entrypoint_waiter(customers, "on_contract_signed"):
        publish_event(uri, signed(customer["id"], "K2"))
    assert call(customers, "get_customer", customer_id=customer["id"])["status"] == "repeat"
    changes = [tap.wait_for("customer.status_changed")["data"] for _ in range(2)]
    assert [(c["from"], c["to"]) for c in changes] == [("potential", "deal"), ("deal", "repeat")]
    assert changes[0]["contract_id"] == "K1"
    with pytest.raises(AssertionError):
        tap.wait_for("customer.status_changed", timeout=1)    # nothing more
    tap.close()
    actions = call(customers, "list_actions", customer_id=customer["id"])["items"]
    assert [(a["from"], a["to"]) for a in actions if a["action"] == "status_changed"] == [
        ("deal", "repeat"), ("potential", "deal")]


def test_churn_risk_makes_dormant(customers, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    customer = call(customers, "create_customer", data={"name": "成都蜀锦贸易有限公司"})
    with entrypoint_waiter(customers, "on_churn_risk"):
        publish_event(uri, envelope("analytics", "customer.churn_risk",
                                    {"customer_id": customer["id"], "reason": "silence"}))
    assert call(customers, "get_customer", customer_id=customer["id"])["status"] == "dormant"


def test_due_plan_is_reminded_once_by_the_job(customers, rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"], "customers", "follow_up_plan.*")
    customer = call(customers, "create_customer", data={"name": "苏州精工模具有限公司"})
    at = timeutil.now().replace(microsecond=0) + timedelta(days=2)
    plan = call(customers, "create_plan", customer_id=customer["id"],
                data={"kind": "visit", "scheduled_at": at.isoformat(), "subject": "上门拜访"})
    with timeutil.freeze(at - timedelta(minutes=31)):
        with entrypoint_hook(customers, "remind_due_plans") as hook:
            assert hook() == 0                                  # not yet
    with timeutil.freeze(at - timedelta(minutes=30)):
        with entrypoint_hook(customers, "remind_due_plans") as hook:
            assert hook() == 1                                  # exactly the lead time before
        with entrypoint_hook(customers, "remind_due_plans") as hook:
            assert hook() == 0                                  # once only
    assert tap.wait_for("follow_up_plan.created")["data"]["plan_id"] == plan["id"]
    due = tap.wait_for("follow_up_plan.due")["data"]
    assert due["plan_id"] == plan["id"] and due["owner_id"] == "rep1"
    assert due["customer_name"] == "苏州精工模具有限公司" and due["subject"] == "上门拜访"
    assert due["scheduled_at"] == timeutil.iso(at)
    tap.close()


@pytest.fixture
def pg_url():
    url = create_database("crm_customers_jobs")
    yield url
    drop_database(url)


def test_two_replicas_remind_each_plan_exactly_once(container_factory, service_config,
                                                    rabbit_config, pg_url):
    config = {**service_config("customers", database_url=pg_url), "CUSTOMERS_JOBS": False}
    replicas = [container_factory(CustomersService, config) for _ in range(2)]
    for container in replicas:
        container.start()
    uri = rabbit_config["AMQP_URI"]
    tap = EventTap(uri, "customers", "follow_up_plan.due")
    at = timeutil.now() + timedelta(minutes=10)
    with ServiceRpcProxy("customers", rabbit_config, context_data=principal("rep1")) as proxy:
        customer = proxy.create_customer(data={"name": "宁波港联物流有限公司"})
        plans = {proxy.create_plan(customer_id=customer["id"], data={
            "kind": "call", "scheduled_at": (at + timedelta(seconds=i)).isoformat(),
            "subject": f"回访 {i}"})["id"] for i in range(12)}
    counts = []
    # the job's handler run by both replicas' stores at once, four times each (green threads
    # on separate PostgreSQL connections); entrypoint_hook cannot tell concurrent workers of
    # one entrypoint apart, so the handler is called the way the timer entrypoint calls it
    stores = [next(ext for ext in c.extensions if isinstance(ext, Database)).store
              for c in replicas]

    def run(store):
        with store.unit() as uow:
            counts.append(handlers_plans.remind_due_plans(uow))

    pool = eventlet.GreenPool(8)
    for _ in range(4):
        for store in stores:
            pool.spawn(run, store)
    pool.waitall()
    assert sum(counts) == 12 and len(counts) == 8
    seen = [tap.wait_for("follow_up_plan.due")["data"]["plan_id"] for _ in range(12)]
    assert sorted(seen) == sorted(plans)
    with pytest.raises(AssertionError):
        tap.wait_for("follow_up_plan.due", timeout=1)
    tap.close()


def test_merge_moves_records_and_hides_the_other(customers, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    tap = EventTap(uri, "customers", "customer.merged")
    keep = call(customers, "create_customer", data={"name": "广州南方制药有限公司",
                                                     "tags": ["华南"]})
    dup = call(customers, "create_customer", data={"name": "广州南方制药",
                                                    "phone": "020-8888 6666", "tags": ["医药"]})
    call(customers, "add_contact", customer_id=keep["id"], data={"name": "陈静"})
    call(customers, "add_contact", customer_id=dup["id"], data={"name": "刘洋"})
    call(customers, "add_follow_up", customer_id=dup["id"],
         data={"kind": "visit", "content": "现场考察"})
    call(customers, "create_plan", customer_id=dup["id"], data={
        "scheduled_at": timeutil.iso(timeutil.now() + timedelta(days=3)), "subject": "复访"})
    with pytest.raises(Forbidden):          # another rep (a manager's scope would be needed)
        call(customers, "merge_customers", user="rep2", visible=["rep1", "rep2"],
             customer_id=keep["id"], other_id=dup["id"])
    merged = call(customers, "merge_customers", customer_id=keep["id"], other_id=dup["id"])
    assert merged["moved"] == {"contacts": 1, "follow_ups": 1, "follow_up_plans": 1,
                               "customer_contracts": 0}
    assert [(c["name"], c["is_primary"]) for c in merged["contacts"]] == [
        ("陈静", True), ("刘洋", False)]                      # still exactly one primary
    assert merged["tags"] == ["华南", "医药"] and merged["phone"] == "020-8888 6666"
    assert merged["last_contact_at"] is not None and merged["next_follow_up_at"] is not None
    with pytest.raises(NotFound) as err:
        call(customers, "get_customer", customer_id=dup["id"])
    assert err.value.args[0] == "customer_merged" and keep["id"] in err.value.args[2]
    listed = call(customers, "list_customers", scope="mine")["items"]
    assert [c["id"] for c in listed] == [keep["id"]]
    event = tap.wait_for("customer.merged")["data"]
    assert (event["survivor_id"], event["merged_id"], event["owner_id"]) == (
        keep["id"], dup["id"], "rep1")
    tap.close()
    assert call(customers, "list_actions", customer_id=keep["id"])["items"][0]["action"] == \
        "merged"
    assert call(customers, "list_actions", customer_id=dup["id"])["items"][0]["action"] == \
        "merged_into"
    with pytest.raises(NotFound):
        call(customers, "merge_customers", customer_id=keep["id"], other_id=dup["id"])
    # a contract later signed against the merged id counts for the survivor
    with entrypoint_waiter(customers, "on_contract_signed"):
        publish_event(uri, signed(dup["id"], "K9"))
    assert call(customers, "get_customer", customer_id=keep["id"])["status"] == "deal"


def test_concurrent_claims_have_one_winner_and_caps(customers, rabbit_config):
    boss = {"user": "boss", "role": "admin", "visible": None}
    call(customers, "set_pool_rules", **boss, rules={"max_customers_per_rep": 2})
    ids = []
    for i in range(3):
        c = call(customers, "create_customer", data={"name": f"公海客户{i}号有限公司"})
        call(customers, "release_customer", customer_id=c["id"], reason="无意向")
        ids.append(c["id"])
    results = []

    def claim(user):
        with ServiceRpcProxy("customers", rabbit_config, context_data=principal(user)) as p:
            try:
                results.append((user, p.claim_customer(customer_id=ids[0])["owner_id"]))
            except Conflict as exc:
                results.append((user, exc.args[0]))

    pool = eventlet.GreenPool(6)
    for i in range(6):
        pool.spawn(claim, f"rep{i + 10}")
    pool.waitall()
    winners = [r for r in results if r[1] != "customer_already_claimed"]
    assert len(winners) == 1 and winners[0][0] == winners[0][1]
    call(customers, "claim_customer", user="rep3", customer_id=ids[1])
    call(customers, "claim_customer", user="rep3", customer_id=ids[2])
    extra = call(customers, "create_customer", user="rep4", data={"name": "第四家有限公司"})
    call(customers, "release_customer", user="rep4", customer_id=extra["id"], reason="转出")
    with pytest.raises(Conflict) as err:
        call(customers, "claim_customer", user="rep3", customer_id=extra["id"])
    assert err.value.args[0] == "claim_limit_reached"


def test_return_job_on_the_boundary_day_skips_locked(customers, rabbit_config):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tap = EventTap(rabbit_config["AMQP_URI"], "customers", "customer.returned_to_pool")
    sh = ZoneInfo("Asia/Shanghai")
    call(customers, "set_pool_rules", user="boss", role="admin", visible=None,
         rules={"follow_up_days": 15, "deal_days": 0})
    with timeutil.freeze(datetime(2026, 3, 1, 23, 30, tzinfo=sh)):
        idle = call(customers, "create_customer", data={"name": "闲置客户有限公司"})
        kept = call(customers, "create_customer", data={"name": "锁定客户有限公司"})
        call(customers, "lock_customer", customer_id=kept["id"])

    def job(at):
        with timeutil.freeze(at), entrypoint_hook(customers, "return_to_pool") as hook:
            return hook()

    assert job(datetime(2026, 2, 1, tzinfo=sh)) == 0                     # a clock in the past
    assert job(datetime(2026, 3, 15, 23, 59, 59, tzinfo=sh)) == 0        # day 14
    for day, count in ((15, 0), (16, 1)):
        with timeutil.freeze(datetime(2026, 3, day, 12, tzinfo=sh)):
            preview = call(customers, "preview_pool_rules", user="boss", role="admin",
                           visible=None)
        assert preview["count"] == count                                 # dry run: no change
    assert job(datetime(2026, 3, 16, 0, 0, 1, tzinfo=sh)) == 1           # day 15
    assert job(datetime(2026, 3, 20, tzinfo=sh)) == 0                    # once
    event = tap.wait_for("customer.returned_to_pool")["data"]
    assert event["customer_id"] == idle["id"] and event["previous_owner_id"] == "rep1"
    assert event["reason"] == "no_follow_up"
    tap.close()
    pool = call(customers, "list_customers", user="rep2", scope="pool")["items"]
    assert [c["id"] for c in pool] == [idle["id"]]
    assert call(customers, "get_customer", customer_id=kept["id"])["owner_id"] == "rep1"


def test_concurrent_primary_contacts_leave_exactly_one(customers, rabbit_config):
    customer = call(customers, "create_customer", data={"name": "天津渤海化工有限公司"})

    def add(i):
        with ServiceRpcProxy("customers", rabbit_config, context_data=principal("rep1")) as p:
            p.add_contact(customer_id=customer["id"],
                          data={"name": f"联系人{i}", "is_primary": True})

    pool = eventlet.GreenPool(10)
    for i in range(10):
        pool.spawn(add, i)
    pool.waitall()
    contacts = call(customers, "list_contacts", customer_id=customer["id"])["items"]
    assert len(contacts) == 10
    assert sum(c["is_primary"] for c in contacts) == 1
    with pytest.raises(NotFound):
        call(customers, "set_primary_contact", customer_id=customer["id"], contact_id="nope")
