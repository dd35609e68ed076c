"""Segments (客户分群) and the customer value feed on SQLite and PostgreSQL: the filters'
SQL (tags on JSON / JSONB), races on segment names and value events, overlapping feed runs."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmkit.errors import Conflict
from crmkit.ids import new_id
from crmkit.principal import Principal
from crmkit.uow import Store
from services.analytics import value_feed
from services.analytics.models import Base as AnalyticsBase
from services.analytics.models import CustomerValue
from services.customers import handlers_segments as seg
from services.customers.models import Base as CustomersBase
from services.customers.models import Customer
from tests.store.conftest import AMQP

ROOT = Path(__file__).resolve().parents[2]
REP = Principal("A", role="sales", visible_user_ids=frozenset({"A"}))
ADMIN = Principal("admin", role="admin")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _store(service, base, url) -> Store:
    store = Store(service, base.metadata, ROOT / "services" / service / "migrations", url,
                  AMQP, pool_size=10, relay=False)
    store.migrate()
    return store


@pytest.fixture
def customers_store(database_url):
    store = _store("customers", CustomersBase, database_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def analytics_store(database_url):
    store = _store("analytics", AnalyticsBase, database_url)
    yield store
    store.engine.dispose()


def add_customers(store, rows) -> dict[str, str]:
    ids = {}
    with store.unit() as uow:
        for name, fields in rows.items():
            c = Customer(id=new_id(), name=name, **fields)
            uow.session.add(c)
            ids[name] = c.id
    return ids


def test_filters_mean_the_same_on_both_stores(customers_store):
    add_customers(customers_store, {
        "星辰科技": {"tags": ["华东", "vip"], "industry": "IT", "owner_id": "A",
                 "value_tier": "gold", "churn_risk": True},
        "宏达机械": {"tags": ["华东"], "industry": "制造业", "owner_id": "A"},
        "云海软件": {"tags": [], "industry": "it", "owner_id": "B", "value_tier": "gold"},
        "公海客户": {"tags": ["vip"], "owner_id": None},
    })

    def names(principal, filters):
        with customers_store.unit() as uow:
            page = seg.preview_segment(uow, principal, filters)
        assert page["count"] == len(page["items"])
        return {i["name"] for i in page["items"]}

    assert names(ADMIN, {"tags": ["vip"]}) == {"星辰科技", "公海客户"}
    assert names(ADMIN, {"tags": ["vip", "华东"]}) == {"星辰科技", "宏达机械", "公海客户"}
    assert names(ADMIN, {"tags": ["不存在"]}) == set()
    assert names(ADMIN, {"industry": ["IT"]}) == {"星辰科技", "云海软件"}
    assert names(ADMIN, {"value_tier": ["gold"], "churn_risk": False}) == {"云海软件"}
    assert names(ADMIN, {"value_tier": ["unrated"], "tags": ["华东"]}) == {"宏达机械"}
    assert names(REP, {"tags": ["vip"]}) == {"星辰科技", "公海客户"}
    assert names(REP, {"value_tier": ["gold"]}) == {"星辰科技"}


def test_concurrent_segments_of_one_name_one_wins(customers_store):
    results, barrier = [], threading.Barrier(6)

    def create():
        barrier.wait()
        try:
            with customers_store.unit() as uow:
                results.append(seg.create_segment(uow, REP, {"name": "重点客户"})["id"])
        except Conflict as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r == "segment_name_taken" for r in results) == [False] + [True] * 5
    with customers_store.unit() as uow:
        assert len(seg.list_segments(uow, REP)["items"]) == 1


def test_concurrent_value_events_converge_to_the_newest(customers_store):
    cid = add_customers(customers_store, {"星辰科技": {"owner_id": "A"}})["星辰科技"]
    events = [{"id": new_id(), "type": "customer.value_changed",
               "occurred_at": (T0 + timedelta(minutes=i)).isoformat(),
               "data": {"customer_id": cid, "tier": ("lead", "iron", "gold")[i % 3],
                        "r": 1 + i % 5, "f": 1 + i % 5, "m": 1 + i % 5,
                        "churn_risk": i % 2 == 0, "churn_reason": "open_complaint"
                        if i % 2 == 0 else None}} for i in range(12)]
    newest = events[-1]
    barrier = threading.Barrier(len(events))

    def apply(event):
        barrier.wait()
        with customers_store.unit() as uow:
            seg.on_value_changed(uow, event)

    threads = [threading.Thread(target=apply, args=(e,)) for e in reversed(events)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with customers_store.unit() as uow:
        c = uow.session.get(Customer, cid)
        assert (c.value_tier, c.rfm, c.churn_risk) == (
            newest["data"]["tier"], "222", newest["data"]["churn_risk"])
        assert c.value_as_of == T0 + timedelta(minutes=11)


def test_overlapping_feed_runs_announce_each_change_once(analytics_store):
    with analytics_store.unit() as uow:
        for i in range(20):
            uow.session.add(CustomerValue(customer_id=f"C{i:02}", contracts=1 + i % 4,
                                          revenue_cents=1000 * (i + 1), refund_cents=0,
                                          last_contract_at=T0 - timedelta(days=i)))
    other = _store("analytics", AnalyticsBase, str(analytics_store.engine.url
                                                   .render_as_string(hide_password=False)))
    results = []

    def run(store, hold):
        with store.unit() as uow:
            results.append(value_feed.feed_customer_values(uow))
            time.sleep(hold)          # keep the transaction (and its lock) open a while

    first = threading.Thread(target=run, args=(analytics_store, 0.5))
    second = threading.Thread(target=run, args=(other, 0))
    first.start()
    time.sleep(0.15)
    second.start()
    first.join()
    second.join()
    other.engine.dispose()
    assert sum(r["emitted"] for r in results) == 20
    with analytics_store.engine.connect() as conn:
        announced = conn.execute(sa.select(sa.func.count()).select_from(
            analytics_store.outbox).where(
            analytics_store.outbox.c.type == "customer.value_changed")).scalar_one()
    assert announced == 20
    if analytics_store.engine.dialect.name == "postgresql":
        assert sorted(r["skipped"] for r in results) == [False, True]
