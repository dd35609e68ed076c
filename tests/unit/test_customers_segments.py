"""Segments (客户分群): filter validation, and what each filter means in SQL, run against a
small hand-built customer table in a throw-away SQLite file (no server)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmkit.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from crmkit.ids import new_id
from crmkit.principal import Principal
from crmkit.uow import Store
from services.customers import handlers_segments as seg
from services.customers.handlers import dump_value
from services.customers.models import Base, Customer

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/customers/migrations"
ADMIN = Principal("admin", role="admin")
REP_A = Principal("A", role="sales", visible_user_ids=frozenset({"A"}))
REP_B = Principal("B", role="sales", visible_user_ids=frozenset({"B"}))
MANAGER = Principal("M", role="manager", visible_user_ids=frozenset({"M", "A"}))

# name: level, status, industry, region, tags, owner, value_tier, churn_risk
CUSTOMERS = {
    "星辰科技": ("A", "deal", "制造业", "上海", ["华东", "vip"], "A", "platinum", False),
    "宏达机械": ("B", "repeat", "制造业", "江苏", ["华东"], "A", "gold", True),
    "云海软件": ("C", "intent", "IT", "北京", [], "B", "lead", False),
    "海天贸易": ("A", "dormant", "it", "上海", ["vip"], "B", None, True),
    "公海客户": ("D", "potential", None, "上海", [], None, None, False),
    "已合并": ("A", "deal", "制造业", "上海", ["vip"], "A", "platinum", False),
}


@pytest.fixture
def store(tmp_path):
    s = Store("customers", Base.metadata, MIGRATIONS, f"sqlite:///{tmp_path}/c.db",
              "amqp://unused", relay=False)
    s.migrate()
    ids = {}
    with s.unit() as uow:
        for name, (level, status, industry, region, tags, owner, tier, churn) in \
                CUSTOMERS.items():
            c = Customer(id=new_id(), name=name, level=level, status=status,
                         industry=industry, region=region, tags=tags, owner_id=owner,
                         value_tier=tier, churn_risk=churn)
            uow.session.add(c)
            ids[name] = c.id
        uow.session.flush()
        uow.session.execute(sa.update(Customer).where(Customer.name == "已合并")
                            .values(merged_into=ids["星辰科技"]))
    s.ids = ids
    yield s
    s.engine.dispose()


def names(store, principal, filters, team_members=None) -> set[str]:
    with store.unit() as uow:
        page = seg.preview_segment(uow, principal, filters, team_members, limit=200)
    assert page["count"] == len(page["items"])
    return {item["name"] for item in page["items"]}


# -- validation: unknown keys / values are 422 and name the field --------------------------------

@pytest.mark.parametrize("filters, field", [
    ({"levle": ["A"]}, "levle"),
    ({"level": ["Z"]}, "level.0"),
    ({"level": "A"}, "level"),
    ({"level": []}, "level"),
    ({"status": ["active"]}, "status.0"),
    ({"value_tier": ["diamond"]}, "value_tier.0"),
    ({"churn_risk": "yes"}, "churn_risk"),
    ({"churn_risk": 1}, "churn_risk"),
    ({"tags": [""]}, "tags.0"),
    ({"industry": ["x" * 101]}, "industry.0"),
    ({"owner_ids": ["u"] * 201}, "owner_ids"),
])
def test_bad_filters_are_refused_naming_the_field(filters, field):
    with pytest.raises(ValidationFailed) as err:
        seg.validate_filters(filters)
    assert field in [d["field"] for d in err.value.details]


def test_filters_are_stored_without_empty_keys_and_duplicates():
    assert seg.validate_filters({"level": ["A", "B", "A"], "tags": [" 华东 "], "team_id": None,
                                 "churn_risk": False}) == {
        "level": ["A", "B"], "tags": ["华东"], "churn_risk": False}
    assert seg.validate_filters(None) == {}
    with pytest.raises(ValidationFailed):
        seg.validate_filters(["level"])


# -- SQL semantics: AND across keys, OR within a list --------------------------------------------

@pytest.mark.parametrize("filters, expected", [
    ({}, {"星辰科技", "宏达机械", "云海软件", "海天贸易", "公海客户"}),
    ({"level": ["A"]}, {"星辰科技", "海天贸易"}),
    ({"level": ["A", "B"], "region": ["上海"]}, {"星辰科技", "海天贸易"}),
    ({"status": ["deal", "repeat"]}, {"星辰科技", "宏达机械"}),
    ({"industry": ["IT"]}, {"云海软件", "海天贸易"}),           # case-insensitive, exact
    ({"industry": ["制造"]}, set()),                            # not a substring search
    ({"tags": ["vip"]}, {"星辰科技", "海天贸易"}),
    ({"tags": ["华东", "vip"]}, {"星辰科技", "宏达机械", "海天贸易"}),  # any of
    ({"tags": ["华东"], "level": ["B"]}, {"宏达机械"}),
    ({"owner_ids": ["B"]}, {"云海软件", "海天贸易"}),
    ({"value_tier": ["platinum", "gold"]}, {"星辰科技", "宏达机械"}),
    ({"value_tier": ["unrated"]}, {"海天贸易", "公海客户"}),
    ({"value_tier": ["lead", "unrated"]}, {"云海软件", "海天贸易", "公海客户"}),
    ({"churn_risk": True}, {"宏达机械", "海天贸易"}),
    ({"churn_risk": False, "region": ["上海"]}, {"星辰科技", "公海客户"}),
    ({"churn_risk": True, "value_tier": ["gold"], "tags": ["华东"]}, {"宏达机械"}),
])
def test_filter_semantics(store, filters, expected):
    assert names(store, ADMIN, filters) == expected


def test_team_filter_uses_the_members_the_caller_resolved(store):
    assert names(store, ADMIN, {"team_id": "t1"}, {"t1": ["B", "nobody"]}) == {
        "云海软件", "海天贸易"}
    assert names(store, ADMIN, {"team_id": "t1"}, {"t1": []}) == set()
    with pytest.raises(BadRequest) as err:
        names(store, ADMIN, {"team_id": "t1"})
    assert err.value.code == "team_members_required"


def test_members_are_limited_to_the_readers_scope(store):
    # a rep sees their own customers and the pool's; never another rep's, never a merged one
    assert names(store, REP_A, {}) == {"星辰科技", "宏达机械", "公海客户"}
    assert names(store, REP_B, {"level": ["A"]}) == {"海天贸易"}
    assert names(store, MANAGER, {"region": ["上海"]}) == {"星辰科技", "公海客户"}


# -- saved segments: visibility, writers, counts --------------------------------------------------

def test_shared_segment_counts_in_each_readers_scope(store):
    with store.unit() as uow:
        shared = seg.create_segment(uow, REP_A, {"name": "上海客户", "shared": True,
                                                 "filters": {"region": ["上海"]}})
        private = seg.create_segment(uow, REP_A, {"name": "私有", "filters": {}})
    with store.unit() as uow:
        assert seg.count_segments(uow, ADMIN, [shared["id"]])["counts"] == {
            shared["id"]: 3}
        assert seg.count_segments(uow, REP_A, [shared["id"]])["counts"] == {shared["id"]: 2}
        assert seg.count_segments(uow, REP_B, [shared["id"], private["id"]])["counts"] == {
            shared["id"]: 2}                       # the private one is not B's to count
        assert [s["id"] for s in seg.list_segments(uow, REP_B)["items"]] == [shared["id"]]
        with pytest.raises(NotFound):
            seg.get_segment(uow, REP_B, private["id"])
        assert seg.get_segment(uow, MANAGER, private["id"])["name"] == "私有"
    with store.unit() as uow, pytest.raises(Forbidden):
        seg.update_segment(uow, REP_B, shared["id"], {"name": "改名"})
    with store.unit() as uow, pytest.raises(Forbidden):
        seg.delete_segment(uow, REP_B, shared["id"])
    with store.unit() as uow:   # the owner's manager may change it
        assert seg.update_segment(uow, MANAGER, shared["id"], {"description": "华东"})[
            "description"] == "华东"
        assert uow.events[-1]["type"] == "segment.updated"
        assert uow.events[-1]["data"]["changes"] == {"description": {"from": None,
                                                                      "to": "华东"}}


def test_bad_update_changes_nothing(store):
    with store.unit() as uow:
        s = seg.create_segment(uow, REP_A, {"name": "A级", "filters": {"level": ["A"]}})
        seg.create_segment(uow, REP_A, {"name": "B级", "filters": {"level": ["B"]}})
    for data in ({"filters": {"level": ["X"]}}, {"name": None}, {"owner_id": "B"},
                 {"filters": {"colour": ["red"]}}):
        with store.unit() as uow, pytest.raises(ValidationFailed):
            seg.update_segment(uow, REP_A, s["id"], data)
    with store.unit() as uow, pytest.raises(Exception) as err:
        seg.update_segment(uow, REP_A, s["id"], {"name": "B级"})
    assert err.value.code == "segment_name_taken"
    with store.unit() as uow:
        assert seg.get_segment(uow, REP_A, s["id"])["filters"] == {"level": ["A"]}
        assert seg.get_segment(uow, REP_A, s["id"])["name"] == "A级"


# -- customer.value_changed: newest wins, merged customers are not followed ----------------------

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def value_event(customer_id, minutes, tier="gold", r=4, f=3, m=5, churn=False, reason=None):
    return {"id": new_id(), "type": "customer.value_changed",
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "data": {"customer_id": customer_id, "tier": tier, "r": r, "f": f, "m": m,
                     "churn_risk": churn, "churn_reason": reason}}


def apply(store, event) -> str:
    with store.unit() as uow:
        return seg.on_value_changed(uow, event)


def member(store, name) -> dict:
    with store.unit() as uow:
        c = uow.session.execute(sa.select(Customer).where(Customer.name == name)).scalar_one()
        return dump_value(c)


def test_value_changed_applies_newest_first(store):
    cid = store.ids["云海软件"]
    assert apply(store, value_event(cid, 10, "gold", 5, 4, 3, True, "open_complaint")) == \
        "applied"
    assert apply(store, value_event(cid, 5, "lead", 1, 1, 1)) == "stale"   # older, late
    assert apply(store, value_event(cid, 10, "iron")) == "stale"           # same instant
    value = member(store, "云海软件")
    assert (value["value_tier"], value["rfm"]["score"], value["churn_risk"],
            value["churn_reason"]) == ("gold", "543", True, "open_complaint")
    assert apply(store, value_event(cid, 20, "iron", 2, 2, 2, False, "stale reason")) == \
        "applied"
    value = member(store, "云海软件")
    assert (value["value_tier"], value["rfm"], value["churn_risk"], value["churn_reason"]) == (
        "iron", {"r": 2, "f": 2, "m": 2, "score": "222"}, False, None)


def test_value_of_a_merged_customer_never_reaches_the_survivor(store):
    survivor_before = member(store, "星辰科技")
    assert apply(store, value_event(store.ids["已合并"], 30, "lead", 1, 1, 1, True,
                                    "purchase_overdue")) == "merged"
    assert member(store, "星辰科技") == survivor_before
    assert apply(store, value_event("no-such-customer", 30)) == "unknown"


def test_malformed_value_event_is_an_error(store):
    bad = value_event(store.ids["云海软件"], 1)
    bad["data"]["r"] = 9
    with pytest.raises(ValidationFailed):
        apply(store, bad)
    no_time = value_event(store.ids["云海软件"], 1)
    del no_time["occurred_at"]
    with pytest.raises(ValidationFailed):
        apply(store, no_time)
