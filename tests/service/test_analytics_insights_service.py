"""Briefing, rankings and churn warning of the analytics service on the real broker.

Producers are played by publishing envelopes to their exchanges; the churn job's event
must come out of analytics' own outbox onto ``analytics.events``.
"""
from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from crmkit import timeutil
from services.analytics.service import AnalyticsService
from tests.pg import create_database, drop_database
from tests.service.conftest import EventTap
from tests.service.test_analytics_service import (
    ADMIN,
    T0,
    Events,
    make_config,
    principal,
    publish,
    wait_until,
)

SOURCES = {"contract": "sales", "payment": "sales", "ticket": "service_desk",
           "return": "service_desk", "customer": "customers", "lead": "leads",
           "opportunity": "sales"}


class MoreEvents(Events):
    def __call__(self, type_, data, minutes=0):
        body = super().__call__("lead.created", data, minutes)
        return {**body, "type": type_, "source": SOURCES[type_.split(".")[0]]}


@pytest.fixture
def analytics(container_factory, rabbit_config, tmp_path):
    container = container_factory(AnalyticsService, make_config(rabbit_config, tmp_path))
    container.start()
    return container


def story(e):
    c1 = {"customer_id": "C1", "owner_id": "A", "team_id": "t1"}
    day = 24 * 60
    return [
        e("customer.created", {**c1, "name": "星辰科技"}),
        e("contract.signed", {**c1, "contract_id": "K0", "total": "1000.00",
                              "signed_at": (T0 - timedelta(days=10)).isoformat()}, -10 * day),
        e("contract.signed", {**c1, "contract_id": "K1", "total": "2500.50",
                              "signed_at": T0.isoformat()}),
        e("payment.received", {**c1, "contract_id": "K1", "amount": "500.00"}, 1),
        e("contract.signed", {"customer_id": "C2", "owner_id": "B", "team_id": "t1",
                              "contract_id": "K2", "total": "300.00"}, 2),
        e("return.refunded", {**c1, "return_id": "R1", "refund_amount": "100.00"}, 3),
        e("ticket.created", {**c1, "ticket_id": "T1", "category": "complaint",
                             "status": "new"}, 4),
    ]


def test_briefing_rankings_profile_over_rpc(analytics, rabbit_config):
    bodies = story(MoreEvents())
    publish(rabbit_config["AMQP_URI"], *bodies)
    config = {"AMQP_URI": rabbit_config["AMQP_URI"]}
    with ServiceRpcProxy("analytics", config, context_data=principal("A", visible=["A"])) \
            as rpc:
        def ready():
            b = rpc.briefing(period="day", date="2026-03-02", scope="me")
            return b if {f["metric"]: f["value"] for f in b["figures"]}["payments"] \
                == "500.00" else None
        brief = wait_until(ready)
        figures = {f["metric"]: f for f in brief["figures"]}
        assert figures["contract_amount"]["value"] == "2500.50"
        assert figures["refunds"]["value"] == "100.00"
        assert figures["tickets_opened"]["value"] == 1
        # reading in parallel over RPC gives the same answers
        results = [rpc.rankings.call_async(metric="contract_amount", period="month",
                                           date="2026-03-02") for _ in range(4)]
        ranks = [r.result()["items"] for r in results]
        assert all(r == [{"rank": 1, "owner_id": "A", "value": "2500.50"}] for r in ranks)
        profile = rpc.customer_profile(customer_id="C1")
        assert profile["profitability"]["contribution"] == "3400.50"
        assert profile["performance"]["open_complaints"] == 1
    with ServiceRpcProxy("analytics", config, context_data=ADMIN) as rpc:
        ranks = rpc.rankings(metric="contract_amount", period="month", date="2026-03-02")
        assert [(i["owner_id"], i["value"]) for i in ranks["items"]] == [
            ("A", "2500.50"), ("B", "300.00")]


def test_churn_job_emits_once_per_episode_through_the_outbox(analytics, rabbit_config):
    bodies = story(MoreEvents())
    publish(rabbit_config["AMQP_URI"], *bodies)
    tap = EventTap(rabbit_config["AMQP_URI"], "analytics", "customer.churn_risk")
    try:
        with ServiceRpcProxy("analytics", {"AMQP_URI": rabbit_config["AMQP_URI"]},
                             context_data=ADMIN) as rpc:
            wait_until(lambda: rpc.churn_risk()["total"] == 1)
        with timeutil.freeze(T0 + timedelta(days=20)):
            with entrypoint_hook(analytics, "scan_churn") as scan:
                assert scan()["flagged"] == 1
            with entrypoint_hook(analytics, "scan_churn") as scan:
                assert scan()["flagged"] == 0
        event = tap.wait_for("customer.churn_risk")
        assert event["source"] == "analytics"
        assert (event["data"]["customer_id"], event["data"]["owner_id"],
                event["data"]["reason"]) == ("C1", "A", "purchase_overdue")
        with pytest.raises(AssertionError):
            tap.wait_for("customer.churn_risk", timeout=1)
    finally:
        tap.close()
    assert json.dumps(event)  # plain JSON on the wire


@pytest.fixture
def pg_analytics(container_factory, rabbit_config, tmp_path):
    url = create_database("crm_analytics_value")
    try:
        container = container_factory(AnalyticsService,
                                      make_config(rabbit_config, tmp_path, database_url=url))
        container.start()
        yield container
        container.stop()
    finally:
        drop_database(url)


def test_concurrent_value_events_on_postgres_converge(pg_analytics, rabbit_config):
    """A shuffled burst of contract, payment, refund and ticket events of two customers,
    taken by 16 workers on PostgreSQL: sums are exact and equal the serial replay."""
    e, bodies = MoreEvents(), []
    for i in range(30):
        customer, owner = ("C1", "A") if i % 3 else ("C2", "B")
        base = {"customer_id": customer, "owner_id": owner, "team_id": "t1"}
        bodies.append(e("contract.signed", {**base, "contract_id": f"K{i}",
                                            "total": f"{100 + i}.25"}, i))
        bodies.append(e("payment.received", {**base, "contract_id": f"K{i}",
                                             "amount": "10.00"}, i + 1))
        if i % 5 == 0:
            bodies.append(e("return.refunded", {**base, "return_id": f"R{i}",
                                                "refund_amount": "1.50"}, i + 2))
    random.Random(5).shuffle(bodies)
    publish(rabbit_config["AMQP_URI"], *bodies)
    config = {"AMQP_URI": rabbit_config["AMQP_URI"]}
    with ServiceRpcProxy("analytics", config, context_data=ADMIN) as rpc:
        def settled():
            v = rpc.customer_value()
            return v if sum(i["frequency"] for i in v["items"]) == 30 else None
        wait_until(settled, timeout=30)
        # C1: i % 3 != 0 → 20 contracts, Σ(100 + i) + 20 × 0.25; C2: the other 10
        c1_total = sum(100 + i for i in range(30) if i % 3) + 20 * 0.25
        c1_refunds = 1.5 * len([i for i in range(30) if i % 3 and i % 5 == 0])
        profile = rpc.customer_profile(customer_id="C1")
        assert profile["profitability"]["revenue"] == f"{c1_total:.2f}"
        assert profile["performance"]["paid"] == "200.00"
        assert profile["profitability"]["refunds"] == f"{c1_refunds:.2f}"
        briefing = rpc.briefing(period="month", date="2026-03-02", scope="company")
        figures = {f["metric"]: f["value"] for f in briefing["figures"]}
        total = sum(100 + i for i in range(30)) + 30 * 0.25
        assert figures["contract_amount"] == f"{total:.2f}"
        assert figures["payments"] == "300.00" and figures["refunds"] == "9.00"
        live = (rpc.customer_value(), rpc.briefing(period="month", date="2026-03-02",
                                                   scope="company"))
        assert rpc.rebuild_projections()["events"] == len(bodies)
        assert (rpc.customer_value(), rpc.briefing(period="month", date="2026-03-02",
                                                   scope="company")) == live
