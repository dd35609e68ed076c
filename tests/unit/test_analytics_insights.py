"""Briefing, rankings, series, forecast, customer value, 7P profile and churn on a real
SQLite store, each figure checked against a small hand-computed data set (with refunds, a
lost opportunity and reassignments)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import NotFound, ValidationFailed
from crmkit.principal import Principal
from services.analytics import handlers, insights
from tests.unit.test_analytics_projections import (  # noqa: F401 - fixture
    Events,
    deliver,
    own,
    snapshot,
    store,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
H, D = timedelta(hours=1), timedelta(days=1)
ADMIN = Principal(user_id="admin", role="admin")
MANAGER = Principal(user_id="M", role="manager", team_id="tA", data_scope="team",
                    visible_user_ids=frozenset({"A", "B", "M"}))
C_USER = own("C")


def opp(oid, customer, owner, amount, stage, probability, close=None, status="open"):
    return {"opportunity_id": oid, "customer_id": customer, "owner_id": owner,
            "team_id": "tC" if owner == "C" else "tA", "pipeline_id": "p1", "amount": amount,
            "stage": stage, "probability": probability, "status": status,
            "expected_close_date": close}


def story(e: Events) -> list[dict]:
    c1 = {"customer_id": "C1", "owner_id": "A", "team_id": "tA"}
    return [
        # the previous week
        e("lead.created", {"lead_id": "L0", "owner_id": "A"}, T0 - 6 * D),
        e("contract.signed", {"contract_id": "K0", **c1, "total": "80000.00",
                              "signed_at": (T0 - 7 * D).isoformat()}, T0 - 7 * D),
        e("payment.received", {**c1, "contract_id": "K0", "amount": "20000.00"}, T0 - 6 * D),
        # this week (2026-03-02 .. 03-08)
        e("lead.created", {"lead_id": "L1", "owner_id": None}, T0),
        e("lead.created", {"lead_id": "L2", "owner_id": "A"}, T0),
        e("lead.claimed", {"lead_id": "L1", "owner_id": "A"}, T0 + H),
        e("lead.assigned", {"lead_id": "L2", "owner_id": "B", "previous_owner_id": "A"},
          T0 + H),
        e("lead.followed_up", {"lead_id": "L1", "owner_id": "A"}, T0 + 2 * H),
        e("customer.created", {**c1, "name": "星辰科技"}, T0 + 3 * H),
        e("customer.created", {"customer_id": "C2", "owner_id": "C", "team_id": "tC",
                               "name": "远航贸易"}, T0 + 3 * H),
        e("customer.followed_up", {**c1, "happened_at": (T0 + 4 * H).isoformat()}, T0 + 4 * H),
        e("opportunity.created", opp("O1", "C1", "A", "100000.00", "初步接洽", 10,
                                     "2026-04-15"), T0 + 5 * H),
        e("opportunity.created", opp("O2", "C1", "B", "50000.00", "需求确认", 30,
                                     "2026-04-20"), T0 + 5 * H),
        e("opportunity.created", opp("O3", "C2", "C", "30000.00", "初步接洽", 10,
                                     "2026-05-01"), T0 + 5 * H),
        e("opportunity.created", opp("O4", "C1", "B", "20000.50", "方案报价", 50,
                                     "2026-04-30"), T0 + 5 * H),
        e("opportunity.created", opp("O5", "C2", "A", "10000.00", "初步接洽", 10), T0 + 5 * H),
        # reassigned: O2 now belongs to A
        e("opportunity.stage_changed", {**opp("O2", "C1", "A", "50000.00", "需求确认", 30,
                                              "2026-04-20"), "from_stage": "需求确认",
                                        "to_stage": "需求确认"}, T0 + 6 * H),
        e("opportunity.lost", opp("O3", "C2", "C", "30000.00", "输单", 0, "2026-05-01",
                                  "lost"), T0 + 7 * H),
        e("opportunity.won", opp("O1", "C1", "A", "120000.00", "赢单", 100, "2026-04-15",
                                 "won"), T0 + D),
        e("contract.signed", {"contract_id": "K1", **c1, "total": "120000.00",
                              "signed_at": (T0 + D).isoformat(), "lines": [
                                  {"product_id": "P1", "name": "CRM 标准版",
                                   "amount": "100000.00"},
                                  {"product_id": "P2", "name": "实施服务",
                                   "amount": "20000.00"}]}, T0 + D),
        e("contract.signed", {"contract_id": "K2", "customer_id": "C2", "owner_id": "C",
                              "team_id": "tC", "total": "30000.00"}, T0 + 2 * D),
        e("payment.received", {**c1, "contract_id": "K1", "amount": "60000.00"}, T0 + D),
        e("receivable.overdue", {**c1, "contract_id": "K1", "outstanding": "10000.00"},
          T0 + D),
        e("return.requested", {**c1, "return_id": "R1"}, T0 + D, source="service_desk"),
        e("return.refunded", {**c1, "return_id": "R1", "refund_amount": "5000.00"},
          T0 + 2 * D, source="service_desk"),
        e("ticket.created", {**c1, "ticket_id": "T1", "category": "complaint",
                             "status": "new"}, T0 + D),
        e("ticket.created", {**c1, "ticket_id": "T2", "category": "question",
                             "status": "new"}, T0 + D),
        e("ticket.resolved", {**c1, "ticket_id": "T2", "category": "question",
                              "status": "resolved"}, T0 + 2 * D),
        e("work_order.completed", {**c1, "work_order_id": "W1", "workload_hours": "2.50"},
          T0 + 2 * D, source="service_desk"),
    ]


@pytest.fixture
def loaded(store):  # noqa: F811
    for body in story(Events()):
        assert deliver(store, body)
    return store


def call(store, fn, principal=ADMIN, **kwargs):  # noqa: F811
    with store.unit() as uow:
        return fn(uow, principal, **kwargs)


def figures(report: dict) -> dict:
    return {f["metric"]: (f["value"], f["previous"], f["change"], f["change_rate"])
            for f in report["figures"]}


def test_briefing_me_week_every_figure(loaded):
    report = call(loaded, insights.briefing, own("A"), period="week", day="2026-03-04",
                  scope="me")
    assert (report["start"], report["end"]) == ("2026-03-02", "2026-03-08")
    assert (report["previous_start"], report["previous_end"]) == ("2026-02-23", "2026-03-01")
    f = figures(report)
    assert f["new_leads"] == (1, 1, 0, "0.0000")
    assert f["lead_claims"] == (1, 0, 1, None)
    assert f["follow_ups"] == (2, 0, 2, None)
    assert f["new_customers"][0] == 1
    assert f["new_opportunities"][0] == 2  # O1, O5 (O2 was created under B)
    assert f["won_amount"][0] == "120000.00"
    assert f["lost_opportunities"][0] == 0
    assert f["contracts_signed"] == (1, 1, 0, "0.0000")
    assert f["contract_amount"] == ("120000.00", "80000.00", "40000.00", "0.5000")
    assert f["payments"] == ("60000.00", "20000.00", "40000.00", "2.0000")
    assert f["overdue_receivables"][0] == 1 and f["overdue_amount"][0] == "10000.00"
    assert f["refunds"][0] == "5000.00"
    assert f["tickets_opened"][0] == 2 and f["tickets_resolved"][0] == 1
    assert report["complete"] is True


def test_briefing_team_company_and_day(loaded):
    team = figures(call(loaded, insights.briefing, MANAGER, period="week",
                        day="2026-03-02", scope="team"))
    assert team["new_opportunities"][0] == 4  # O1, O2, O4, O5; pool lead L1 not a team's
    assert team["new_leads"][0] == 1
    company = figures(call(loaded, insights.briefing, ADMIN, period="week",
                           day="2026-03-02", scope="company"))
    assert company["new_leads"][0] == 2 and company["new_opportunities"][0] == 5
    assert company["contract_amount"][0] == "150000.00"
    assert company["lost_opportunities"][0] == 1
    partial = call(loaded, insights.briefing, own("A"), period="week", day="2026-03-02",
                   scope="company")
    assert partial["complete"] is False and figures(partial)["new_leads"][0] == 2
    day = figures(call(loaded, insights.briefing, ADMIN, period="day", day="2026-03-03",
                       scope="company"))
    assert day["contract_amount"] == ("120000.00", "0.00", "120000.00", None)
    month = figures(call(loaded, insights.briefing, ADMIN, period="month", day="2026-03-31",
                         scope="company"))
    assert month["contract_amount"] == ("150000.00", "80000.00", "70000.00", "0.8750")


@pytest.mark.parametrize("kwargs", [{"period": "year"}, {"scope": "world"},
                                    {"day": "yesterday"}])
def test_briefing_rejects_bad_input(loaded, kwargs):
    with pytest.raises(ValidationFailed):
        call(loaded, insights.briefing, ADMIN, **kwargs)


def test_rankings_in_scope(loaded):
    r = call(loaded, insights.rankings, ADMIN, metric="contract_amount", period="month",
             day="2026-03-10")
    assert [(i["rank"], i["owner_id"], i["value"]) for i in r["items"]] == [
        (1, "A", "120000.00"), (2, "C", "30000.00")]
    r = call(loaded, insights.rankings, MANAGER, metric="contract_amount", period="month",
             day="2026-03-10")
    assert [i["owner_id"] for i in r["items"]] == ["A"]
    r = call(loaded, insights.rankings, ADMIN, metric="follow_ups", period="week",
             day="2026-03-02", limit=1)
    assert [(i["owner_id"], i["value"]) for i in r["items"]] == [("A", 2)]
    with pytest.raises(ValidationFailed):
        call(loaded, insights.rankings, ADMIN, metric="bogus")


def test_series_per_day(loaded):
    s = call(loaded, insights.series, ADMIN, metric="contract_amount", start="2026-02-23",
             end="2026-03-05")
    points = {p["date"]: (p["count"], p["amount"]) for p in s["points"]}
    assert len(points) == 11
    assert points["2026-02-23"] == (1, "80000.00")
    assert points["2026-03-03"] == (1, "120000.00")
    assert points["2026-03-04"] == (1, "30000.00")
    assert points["2026-03-02"] == (0, "0.00")
    mine = call(loaded, insights.series, own("C"), metric="new_opportunities",
                start="2026-03-02", end="2026-03-02")
    assert mine["points"] == [{"date": "2026-03-02", "count": 1, "amount": "30000.00"}]
    with pytest.raises(ValidationFailed):
        call(loaded, insights.series, ADMIN, start="2026-03-05", end="2026-03-01")
    with pytest.raises(ValidationFailed):
        call(loaded, insights.series, ADMIN, start="2024-01-01", end="2026-03-01")


def test_forecast_weighted_by_close_month(loaded):
    f = call(loaded, insights.forecast, ADMIN)
    assert f["months"] == [
        {"month": "2026-04", "opportunities": 2, "amount": "70000.50", "weighted": "25000.25"},
        {"month": None, "opportunities": 1, "amount": "10000.00", "weighted": "1000.00"}]
    assert (f["total_amount"], f["total_weighted"]) == ("80000.50", "26000.25")
    mine = call(loaded, insights.forecast, own("A"))  # O2 was reassigned to A
    assert mine["total_weighted"] == "16000.00"
    april = call(loaded, insights.forecast, ADMIN, start="2026-04-01", end="2026-04-30")
    assert [m["month"] for m in april["months"]] == ["2026-04"]


def test_customer_value_rfm_pareto_pyramid(loaded):
    with timeutil.freeze(T0 + 10 * D):
        v = call(loaded, insights.customer_value, ADMIN)
    assert v["customers"] == 2
    assert v["pareto"] == {"customers": 2, "top_customers": 1, "share": "0.8667"}
    items = {i["customer_id"]: i for i in v["items"]}
    assert [i["customer_id"] for i in v["items"]] == ["C1", "C2"]
    assert items["C1"]["monetary"] == "195000.00" and items["C1"]["frequency"] == 2
    assert items["C1"]["tier"] == "platinum" and items["C2"]["tier"] == "lead"
    assert (items["C1"]["r"], items["C1"]["f"], items["C1"]["m"]) == (1, 3, 3)
    assert (items["C2"]["r"], items["C2"]["f"], items["C2"]["m"]) == (3, 1, 1)
    assert items["C1"]["recency_days"] == 9
    tiers = {p["tier"]: (p["customers"], p["revenue"]) for p in v["pyramid"]}
    assert tiers["platinum"] == (1, "195000.00") and tiers["lead"] == (1, "30000.00")
    scoped = call(loaded, insights.customer_value, C_USER)
    assert [i["customer_id"] for i in scoped["items"]] == ["C2"]


def test_profile_7p(loaded):
    with timeutil.freeze(T0 + 10 * D):
        p = call(loaded, insights.customer_profile, ADMIN, customer_id="C1")
    assert p["profiling"]["name"] == "星辰科技" and p["profiling"]["owner_id"] == "A"
    assert p["persistency"] == {
        "contracts": 2, "repeat_buyer": True, "first_contract_at": timeutil.iso(T0 - 7 * D),
        "last_contract_at": timeutil.iso(T0 + D), "mean_interval_days": 8.0,
        "relationship_days": 9, "cancelled_contracts": 0, "churn_risk": False,
        "churn_reason": None}
    assert p["profitability"] == {"revenue": "200000.00", "refunds": "5000.00",
                                  "service_hours": "2.50", "service_cost": "500.00",
                                  "contribution": "194500.00"}
    assert p["performance"] == {"paid": "80000.00", "outstanding": "120000.00",
                                "collection_rate": "0.4000", "overdue_count": 1,
                                "overdue_amount": "10000.00", "tickets": 2, "complaints": 1,
                                "open_complaints": 1, "sla_breaches": 0, "returns": 1}
    assert p["prospecting"] == {"open_opportunities": 2, "pipeline": "70000.50",
                                "weighted": "25000.25", "win_rate": "1.0000"}
    assert [x["product"] for x in p["product"]["top_products"]] == ["P1", "P2"]
    assert p["product"]["top_products"][0] == {"product": "P1", "name": "CRM 标准版",
                                               "lines": 1, "amount": "100000.00"}
    assert p["promotion"]["follow_ups"] == 1
    with pytest.raises(NotFound):
        call(loaded, insights.customer_profile, C_USER, customer_id="C1")
    with pytest.raises(NotFound):
        call(loaded, insights.customer_profile, ADMIN, customer_id="nobody")


def test_profile_follows_the_customer_through_the_pool(loaded):
    """Released by A, claimed by C: the profile is C's to read, no longer A's (the view's
    analytics sections are scoped by the owner analytics knows)."""
    e = Events()
    e.n = 4000
    summary = {"customer_id": "C1", "name": "星辰科技", "level": "A", "status": "active"}
    deliver(loaded, e("customer.released", {**summary, "owner_id": None, "team_id": "tA",
                                            "previous_owner_id": "A", "reason": "精力不足"},
                      T0 + 8 * D, source="customers"))
    assert call(loaded, insights.customer_profile, C_USER,
                customer_id="C1")["profiling"]["owner_id"] is None
    deliver(loaded, e("customer.claimed", {**summary, "owner_id": "C", "team_id": "tC"},
                      T0 + 9 * D, source="customers"))
    p = call(loaded, insights.customer_profile, C_USER, customer_id="C1")
    assert p["profiling"]["owner_id"] == "C" and p["persistency"]["contracts"] == 2
    with pytest.raises(NotFound):
        call(loaded, insights.customer_profile, own("A"), customer_id="C1")
    # an older event delivered late does not give the customer back to A
    deliver(loaded, e("customer.level_changed", {**summary, "owner_id": "A", "team_id": "tA"},
                      T0 + 7 * D, source="customers"))
    assert call(loaded, insights.customer_profile, ADMIN,
                customer_id="C1")["profiling"]["owner_id"] == "C"
    before = snapshot(loaded, drop_zero_counts=True)
    with loaded.unit() as uow:
        handlers.rebuild_projections(uow, ADMIN)
    assert snapshot(loaded, drop_zero_counts=True) == before


def churn_events(store):  # noqa: F811
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT payload FROM outbox WHERE type = "
                                    "'customer.churn_risk' ORDER BY id")).scalars().all()
    return [json.loads(r)["data"] for r in rows]


def scan(store, at):  # noqa: F811
    with timeutil.freeze(at), store.unit() as uow:
        return insights.scan_churn(uow)


def test_churn_risk_and_one_event_per_episode(loaded):
    # day 3: C1 bought 2 days ago (interval 8 d) but has an open complaint
    with timeutil.freeze(T0 + 3 * D):
        r = call(loaded, insights.churn_risk, ADMIN)
    assert [(i["customer_id"], i["reason"]) for i in r["items"]] == [("C1", "open_complaint")]
    assert scan(loaded, T0 + 3 * D) == {"at_risk": 1, "flagged": 1, "cleared": 0}
    assert scan(loaded, T0 + 4 * D)["flagged"] == 0  # same episode: announced once
    assert [(d["customer_id"], d["owner_id"], d["reason"]) for d in churn_events(loaded)] == [
        ("C1", "A", "open_complaint")]
    # the complaint is closed: the episode ends
    e = Events()
    e.n = 1000
    deliver(loaded, e("ticket.closed", {"customer_id": "C1", "owner_id": "A",
                                        "ticket_id": "T1", "category": "complaint",
                                        "status": "closed"}, T0 + 4 * D))
    assert scan(loaded, T0 + 5 * D) == {"at_risk": 0, "flagged": 0, "cleared": 1}
    # boundary: 1.5 × 8 d = 12 d of silence after the last contract (T0 + 1 d)
    with timeutil.freeze(T0 + 13 * D):
        assert call(loaded, insights.churn_risk, ADMIN)["items"] == []
    assert scan(loaded, T0 + 13 * D + H)["flagged"] == 1  # just past 12 days: a new episode
    assert [d["reason"] for d in churn_events(loaded)] == ["open_complaint", "purchase_overdue"]
    with timeutil.freeze(T0 + 30 * D):
        assert call(loaded, insights.churn_risk, C_USER)["items"] == []
        assert call(loaded, insights.churn_risk, ADMIN, multiple=4)["total"] == 0
        with pytest.raises(ValidationFailed):
            call(loaded, insights.churn_risk, ADMIN, multiple="x")


def test_rebuild_equals_live_projections(loaded):
    before = snapshot(loaded, drop_zero_counts=True)
    with loaded.unit() as uow:
        handlers.rebuild_projections(uow, ADMIN)
    assert snapshot(loaded, drop_zero_counts=True) == before


def test_any_order_converges(store):  # noqa: F811
    import random
    bodies = story(Events())
    random.Random(7).shuffle(bodies)
    for body in bodies:
        deliver(store, body)
    p = call(store, insights.customer_profile, ADMIN, customer_id="C1")
    assert p["profitability"]["revenue"] == "200000.00"
    assert p["persistency"]["mean_interval_days"] == 8.0
    f = figures(call(store, insights.briefing, own("A"), period="week", day="2026-03-04",
                     scope="me"))
    assert f["contract_amount"][0] == "120000.00"


def test_funnel_filters_team_with_sub_teams_owner_and_period(loaded):
    e = Events()
    e.n = 2000
    sub = {**opp("O9", "C1", "B", "7000.00", "初步接洽", 10), "team_id": "tA1"}  # a sub-team
    deliver(loaded, e("opportunity.created", sub, T0 + 5 * H))
    window = {"start": "2026-03-02T00:00:00+08:00", "end": "2026-03-09T00:00:00+08:00"}
    mine = call(loaded, handlers.funnel, MANAGER, team_id="tA", **window)
    exact = call(loaded, handlers.funnel, ADMIN, team_id="tA", **window)
    assert mine["overall"]["opportunities"] == 5  # O1, O2, O4, O5 + O9 of the sub-team
    assert exact["overall"]["opportunities"] == 4  # the team tA exactly
    assert exact["overall"]["leads"] is None and mine["overall"]["leads"] == 1
    owner = call(loaded, handlers.funnel, ADMIN, owner_id="C", **window)
    assert owner["overall"]["opportunities"] == 1
    assert [s["count"] for s in owner["stages"]][:1] == [1]
    before = call(loaded, handlers.funnel, ADMIN, start="2026-02-01T00:00:00+08:00",
                  end="2026-03-01T00:00:00+08:00")
    assert before["overall"]["opportunities"] == 0
    assert call(loaded, handlers.funnel, ADMIN, pipeline_id="p1", **window)["pipeline_id"] == "p1"


def test_customer_merge_moves_value_to_the_survivor(loaded):
    e = Events()
    e.n = 3000
    deliver(loaded, e("customer.merged", {"survivor_id": "C1", "merged_id": "C2",
                                          "owner_id": "A"}, T0 + 3 * D, source="customers"))
    p = call(loaded, insights.customer_profile, ADMIN, customer_id="C1")
    assert p["persistency"]["contracts"] == 3
    assert p["profitability"]["revenue"] == "230000.00"
    assert p["prospecting"]["open_opportunities"] == 3  # O2, O4 + O5 of C2
    assert p["persistency"]["first_contract_at"] == timeutil.iso(T0 - 7 * D)
    v = call(loaded, insights.customer_value, ADMIN)
    assert [i["customer_id"] for i in v["items"]] == ["C1"]
    before = snapshot(loaded, drop_zero_counts=True)
    with loaded.unit() as uow:
        handlers.rebuild_projections(uow, ADMIN)
    assert snapshot(loaded, drop_zero_counts=True) == before
