"""The customer value feed: ``customer.value_changed`` once per change of a customer's tier,
RFM scores or churn flag (a throw-away SQLite store, no broker)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmkit import timeutil
from crmkit.principal import Principal
from crmkit.uow import Store
from services.analytics import value_feed
from services.analytics.insights import customer_value
from services.analytics.models import Base, ChurnFlag, CustomerValue

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/analytics/migrations"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    s = Store("analytics", Base.metadata, MIGRATIONS, f"sqlite:///{tmp_path}/a.db",
              "amqp://unused", relay=False)
    s.migrate()
    with s.unit() as uow:
        for i in range(1, 6):   # C5 bought most, most often, most recently
            uow.session.add(CustomerValue(
                customer_id=f"C{i}", contracts=i, revenue_cents=100_000 * i, refund_cents=0,
                first_contract_at=NOW - timedelta(days=400),
                last_contract_at=NOW - timedelta(days=60 - 10 * i)))
        uow.session.add(CustomerValue(customer_id="C0", contracts=0, revenue_cents=0,
                                      refund_cents=0))
    yield s
    s.engine.dispose()


def run(store) -> tuple[dict, list[dict]]:
    with timeutil.freeze(NOW), store.unit() as uow:
        result = value_feed.feed_customer_values(uow)
        return result, [e["data"] for e in uow.events if e["type"] == "customer.value_changed"]


def test_first_run_announces_every_valued_customer_then_nothing(store):
    result, emitted = run(store)
    assert result == {"skipped": False, "customers": 6, "emitted": 6}
    by_id = {e["customer_id"]: e for e in emitted}
    assert (by_id["C5"]["tier"], by_id["C5"]["rfm"]) == ("platinum", "555")
    assert (by_id["C0"]["tier"], by_id["C0"]["rfm"]) == ("inactive", "111")
    assert by_id["C5"]["changed"] == sorted(value_feed.FIELDS)
    assert run(store) == ({"skipped": False, "customers": 6, "emitted": 0}, [])


def test_feed_agrees_with_the_company_wide_customer_value_report(store):
    _, emitted = run(store)
    with timeutil.freeze(NOW), store.unit() as uow:
        report = customer_value(uow, Principal.system(), limit=200)
    assert {i["customer_id"]: (i["tier"], i["score"]) for i in report["items"]} == {
        e["customer_id"]: (e["tier"], e["rfm"]) for e in emitted}


def test_only_changed_customers_are_announced(store):
    run(store)
    with store.unit() as uow:   # a churn warning for C3 (as scan_churn records it)
        uow.session.add(ChurnFlag(customer_id="C3", active=True, episode=1,
                                  reason="open_complaint", flagged_at=NOW))
    result, emitted = run(store)
    assert result["emitted"] == 1
    assert emitted[0]["customer_id"] == "C3"
    assert (emitted[0]["churn_risk"], emitted[0]["churn_reason"]) == (True, "open_complaint")
    assert emitted[0]["changed"] == ["churn_reason", "churn_risk"]
    with store.unit() as uow:   # the episode ends
        uow.session.get(ChurnFlag, "C3").active = False
    _, emitted = run(store)
    assert [(e["customer_id"], e["churn_risk"], e["churn_reason"]) for e in emitted] == [
        ("C3", False, None)]
    with store.unit() as uow:   # C0 buys big: its tier and M, and others' ranks, move
        value = uow.session.get(CustomerValue, "C0")
        value.contracts, value.revenue_cents = 1, 10_000_000
        value.last_contract_at = NOW
    _, emitted = run(store)
    by_id = {e["customer_id"]: e for e in emitted}
    assert by_id["C0"]["tier"] == "platinum" and by_id["C0"]["m"] == 5
    assert by_id["C5"]["tier"] == "iron"          # 6 with revenue: 1 platinum, 1 iron
    assert "tier" in by_id["C5"]["changed"]
    assert run(store)[0]["emitted"] == 0


def test_a_value_already_written_by_an_overlapping_run_is_not_announced_again(store):
    with timeutil.freeze(NOW), store.unit() as uow:
        current = value_feed.current_values(uow.session, NOW)
        assert value_feed._claim(uow.session, "C1", current["C1"], NOW) == (True, None)
        # another run that computed the same value finds nothing to change
        assert value_feed._claim(uow.session, "C1", current["C1"], NOW)[0] is False
        changed, before = value_feed._claim(uow.session, "C1", {**current["C1"], "r": 5}, NOW)
        assert changed is True and before == current["C1"]
