"""Pure rules of the briefing, rankings, forecast, customer value and churn (tables of cases)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.analytics.domain import briefing as b
from services.analytics.domain import value as v

T = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("period,day,expected", [
    ("day", date(2026, 3, 4), (date(2026, 3, 4), date(2026, 3, 4))),
    ("week", date(2026, 3, 4), (date(2026, 3, 2), date(2026, 3, 8))),
    ("week", date(2026, 3, 8), (date(2026, 3, 2), date(2026, 3, 8))),
    ("month", date(2026, 2, 14), (date(2026, 2, 1), date(2026, 2, 28))),
    ("month", date(2024, 2, 29), (date(2024, 2, 1), date(2024, 2, 29))),
])
def test_period_days(period, day, expected):
    assert b.period_days(period, day) == expected


@pytest.mark.parametrize("period,first,expected", [
    ("day", date(2026, 3, 1), (date(2026, 2, 28), date(2026, 2, 28))),
    ("week", date(2026, 3, 2), (date(2026, 2, 23), date(2026, 3, 1))),
    ("month", date(2026, 3, 1), (date(2026, 2, 1), date(2026, 2, 28))),
    ("month", date(2026, 1, 1), (date(2025, 12, 1), date(2025, 12, 31))),
])
def test_previous_period(period, first, expected):
    assert b.previous_days(period, first) == expected


@pytest.mark.parametrize("current,previous,expected", [
    (10, 5, "1.0000"), (5, 10, "-0.5000"), (3, 0, None), (0, 0, None), (7, 7, "0.0000")])
def test_change_rate(current, previous, expected):
    assert b.change_rate(current, previous) == expected


def test_rank_competition_ties_and_limit():
    assert b.rank({"a": 5, "b": 9, "c": 5, "d": 0}, 10) == [
        {"rank": 1, "owner_id": "b", "value": 9}, {"rank": 2, "owner_id": "a", "value": 5},
        {"rank": 2, "owner_id": "c", "value": 5}]
    assert len(b.rank({"a": 1, "b": 2}, 1)) == 1


@pytest.mark.parametrize("amount,probability,expected", [
    ("100.00", 30, "30.00"), ("20000.50", 50, "10000.25"), ("10.00", None, "0.00"),
    ("0.03", 50, "0.02"), ("100.00", 100.0, "100.00")])
def test_weighted(amount, probability, expected):
    assert b.weighted(Decimal(amount), probability) == Decimal(expected)


def test_quintiles_and_rfm():
    assert v.quintile_scores({}) == {}
    scores = v.quintile_scores({str(i): i for i in range(10)})
    assert [scores[str(i)] for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert v.quintile_scores({"a": 1, "b": 1}) == {"a": 1, "b": 1}
    r = v.rfm({"new": (1.0, 3, 500), "old": (90.0, 1, 100), "never": (None, 0, 0)})
    assert r["new"]["score"] == "444" and r["never"]["r"] == 1


@pytest.mark.parametrize("revenues,expected", [
    ([], {"customers": 0, "top_customers": 0, "share": None}),
    ([100, 0, 0, 0, 0], {"customers": 5, "top_customers": 1, "share": "1.0000"}),
    ([80, 5, 5, 5, 5], {"customers": 5, "top_customers": 1, "share": "0.8000"}),
    ([10] * 10, {"customers": 10, "top_customers": 2, "share": "0.2000"}),
])
def test_top_share(revenues, expected):
    assert v.top_share(revenues) == expected


def test_pyramid_tiers():
    tiers = v.pyramid({f"c{i:03}": 1000 - i for i in range(100)} | {"zero": 0, "neg": -5})
    counts = {t: list(tiers.values()).count(t) for t in (*v.TIERS, v.INACTIVE)}
    assert counts == {"platinum": 1, "gold": 4, "iron": 15, "lead": 80, "inactive": 2}
    assert tiers["c000"] == "platinum" and tiers["c004"] == "gold" and tiers["c005"] == "iron"


@pytest.mark.parametrize("silence,contracts,complaints,expected", [
    (12, 3, 0, (False, None)),                 # exactly 1.5 × 8 d: not yet
    (12.01, 3, 0, (True, v.PURCHASE_OVERDUE)),
    (5, 3, 1, (True, v.OPEN_COMPLAINT)),
    (100, 1, 0, (False, None)),                # one contract: no interval
    (100, 3, 2, (True, v.PURCHASE_OVERDUE)),
])
def test_churn_rule(silence, contracts, complaints, expected):
    first = T
    last = T + timedelta(days=8 * (contracts - 1))
    check = v.churn(last + timedelta(days=silence), first, last, contracts, complaints, 1.5)
    assert (check.at_risk, check.reason) == expected


@pytest.mark.parametrize("revenue,refund,centihours,cost,expected", [
    (100000, 0, 0, 20000, 100000), (100000, 5000, 250, 20000, 45000), (0, 100, 100, 100, -200)])
def test_profitability(revenue, refund, centihours, cost, expected):
    assert v.profitability(revenue, refund, centihours, cost) == expected


@pytest.mark.parametrize("reason,body", [
    ("purchase_overdue", "客户「星辰科技」有流失风险（超过平均采购周期未下单）"),
    ("open_complaint", "客户「星辰科技」有流失风险（投诉未关闭）"),
])
def test_churn_risk_notifies_the_owner(reason, body):
    from gateway.notifications import build_notification

    note = build_notification({"id": "e1", "type": "customer.churn_risk", "actor_id": None,
                               "data": {"customer_id": "C1", "name": "星辰科技",
                                        "owner_id": "A", "reason": reason}})
    assert (note["user_id"], note["title"], note["body"]) == ("A", "客户流失预警", body)
