"""Segments (客户分群) and the customer value feed on the real broker.

Analytics and customers run side by side: contracts signed (played by publishing the sales
service's events) give analytics its customer values; its feed job emits
``customer.value_changed`` through its outbox; customers consume it into the value columns
the segments filter on. Counts and members are checked in each reader's data scope.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from crmkit.ids import new_id
from services.analytics.service import AnalyticsService
from services.customers.service import CustomersService
from tests.service.conftest import EventTap, principal, publish_event
from tests.support import eventually

ADMIN = principal("admin", "admin", visible=None)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def call(container, method, context=ADMIN, **kwargs):
    with entrypoint_hook(container, method, context_data=context) as hook:
        return hook(**kwargs)


def envelope(source, type_, data, occurred_at=None) -> dict:
    return {"id": new_id(), "type": type_, "version": 1,
            "occurred_at": (occurred_at or datetime.now(UTC)).isoformat(), "source": source,
            "actor_id": "u-actor", "correlation_id": new_id(), "data": data}


def signed(customer_id, owner, contract_id, total, days_ago) -> dict:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return envelope("sales", "contract.signed", {
        "contract_id": contract_id, "customer_id": customer_id, "owner_id": owner,
        "team_id": "t1", "number": contract_id, "total": total, "status": "signed",
        "signed_at": at.isoformat()}, at)


@pytest.fixture
def customers(container_factory, service_config):
    container = container_factory(CustomersService, service_config(
        "customers", event_max_attempts=2, event_retry_delay_ms=100))
    container.start()
    return container


@pytest.fixture
def analytics(container_factory, service_config):
    container = container_factory(AnalyticsService, service_config("analytics"))
    container.start()
    return container


def test_value_feed_reaches_customers_and_segments_count_in_scope(customers, analytics,
                                                                   rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    ids = {}
    for name, owner in (("星辰科技", "A"), ("宏达机械", "A"), ("云海软件", "B")):
        ids[name] = call(customers, "create_customer", principal(owner),
                         data={"name": name, "region": "上海"})["id"]
    for event in (signed(ids["星辰科技"], "A", "K1", "900000.00", 200),
                  signed(ids["星辰科技"], "A", "K2", "800000.00", 100),
                  signed(ids["宏达机械"], "A", "K3", "1000.00", 5),
                  signed(ids["云海软件"], "B", "K4", "5000.00", 30)):
        publish_event(uri, event)
    with ServiceRpcProxy("analytics", {"AMQP_URI": uri}, context_data=ADMIN) as rpc:
        eventually(lambda: rpc.customer_value()["customers"] == 3)
        report = {i["customer_id"]: (i["tier"], i["score"])
                  for i in rpc.customer_value()["items"]}
    tap = EventTap(uri, "analytics", "customer.value_changed")
    try:
        with entrypoint_waiter(customers, "on_value_changed", timeout=15):
            assert call(analytics, "feed_customer_values")["emitted"] == 3
        announced = {}
        for _ in range(3):
            event = tap.wait_for("customer.value_changed")
            announced[event["data"]["customer_id"]] = event["data"]
        assert announced[ids["星辰科技"]]["tier"] == "platinum"
        # what customers learn is what the company-wide customer value report says
        assert {k: (v["tier"], v["rfm"]) for k, v in announced.items()} == report
        # nothing changed: the next run announces nothing
        assert call(analytics, "feed_customer_values")["emitted"] == 0
        with pytest.raises(AssertionError):
            tap.wait_for("customer.value_changed", timeout=1)
    finally:
        tap.close()

    def valued():
        page = call(customers, "preview_segment", filters={"value_tier": ["unrated"]})
        return page["count"] == 0
    eventually(valued, timeout=15)
    top = call(customers, "create_segment", principal("A"), data={
        "name": "高价值", "shared": True, "filters": {"value_tier": ["platinum", "iron"],
                                                     "region": ["上海"]}})
    everyone = call(customers, "create_segment", principal("A"), data={
        "name": "全部上海客户", "shared": True, "filters": {"region": ["上海"]}})
    both = [top["id"], everyone["id"]]
    admin_counts = call(customers, "count_segments", segment_ids=both)["counts"]
    a_counts = call(customers, "count_segments", principal("A"), segment_ids=both)["counts"]
    b_counts = call(customers, "count_segments", principal("B"), segment_ids=both)["counts"]
    tiers = {k: v["tier"] for k, v in announced.items()}
    expected_top = {k for k, t in tiers.items() if t in ("platinum", "iron")}
    assert admin_counts == {top["id"]: len(expected_top), everyone["id"]: 3}
    assert a_counts[everyone["id"]] == 2 and b_counts[everyone["id"]] == 1
    page = call(customers, "segment_members", principal("B"), segment_id=everyone["id"])
    assert [m["name"] for m in page["items"]] == ["云海软件"]
    assert page["items"][0]["value_tier"] == tiers[ids["云海软件"]]
    assert page["items"][0]["rfm"]["score"] == announced[ids["云海软件"]]["rfm"]


def test_value_changed_is_applied_once_newest_first_and_not_to_a_survivor(customers,
                                                                         rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    keep = call(customers, "create_customer", principal("A"), data={"name": "星辰科技"})["id"]
    gone = call(customers, "create_customer", principal("A"), data={"name": "星辰科技(重复)"})["id"]
    call(customers, "merge_customers", principal("A", "manager"), customer_id=keep,
         other_id=gone)

    def value(customer_id, minutes, tier, score, churn=False):
        return envelope("analytics", "customer.value_changed", {
            "customer_id": customer_id, "tier": tier, "r": score, "f": score, "m": score,
            "rfm": f"{score}" * 3, "churn_risk": churn,
            "churn_reason": "purchase_overdue" if churn else None},
            T0 + timedelta(minutes=minutes))

    newer, older = value(keep, 10, "gold", 4, True), value(keep, 5, "lead", 1)
    for event in (newer, newer, older, value(gone, 20, "lead", 1)):
        with entrypoint_waiter(customers, "on_value_changed"):
            publish_event(uri, event)
    page = call(customers, "preview_segment", filters={"churn_risk": True})
    assert [(m["id"], m["value_tier"], m["rfm"]["score"], m["churn_reason"])
            for m in page["items"]] == [(keep, "gold", "444", "purchase_overdue")]
    assert page["count"] == 1


def test_segment_crud_over_rpc_validates_and_emits(customers, rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"], "customers", "segment.*")
    try:
        with ServiceRpcProxy("customers", {"AMQP_URI": rabbit_config["AMQP_URI"]},
                             context_data=principal("A")) as rpc:
            with pytest.raises(RemoteError) as err:
                rpc.create_segment(data={"name": "坏", "filters": {"colour": ["red"]}})
            assert err.value.exc_type == "ValidationFailed"
            assert "filters.colour" in err.value.value
            assert rpc.list_segments()["items"] == []
            made = rpc.create_segment(data={"name": "A级", "filters": {"level": ["A"]}})
            assert tap.wait_for("segment.created")["data"]["filters"] == {"level": ["A"]}
            rpc.update_segment(segment_id=made["id"], data={"shared": True})
            assert tap.wait_for("segment.updated")["data"]["changes"] == {
                "shared": {"from": False, "to": True}}
            rpc.delete_segment(segment_id=made["id"])
            assert tap.wait_for("segment.deleted")["data"]["segment_id"] == made["id"]
            with pytest.raises(RemoteError) as err:
                rpc.get_segment(segment_id=made["id"])
            assert err.value.exc_type == "NotFound"
    finally:
        tap.close()
