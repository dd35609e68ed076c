"""Analytics projections on a real SQLite store (migrated), without a broker.

Envelopes go through the same path as the consumer (idempotency check, log,
projection) and the read models are checked through the same handlers the RPC uses.
"""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crmkit.errors import Forbidden, ValidationFailed
from crmkit.principal import Principal
from crmkit.uow import Store
from services.analytics import handlers
from services.analytics.domain.envelope import MalformedEvent
from services.analytics.models import (
    EVENT_COUNTS,
    PROJECTIONS,
    STAGE_COUNTS,
    Base,
    EventLogEntry,
    LeadState,
    OpportunityState,
)

MIGRATIONS = Path(handlers.__file__).parent / "migrations"
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday
ADMIN = Principal(user_id="admin", role="admin")


def own(user_id: str) -> Principal:
    return Principal(user_id=user_id, role="sales", data_scope="own",
                     visible_user_ids=frozenset({user_id}))


@pytest.fixture
def store(tmp_path):
    s = Store("analytics", Base.metadata, MIGRATIONS, f"sqlite:///{tmp_path}/a.db",
              "memory://", relay=False)
    s.migrate()
    yield s
    s.engine.dispose()


class Events:
    """Builds envelopes with increasing ids, as producers' time-ordered ids are."""

    def __init__(self):
        self.n = 0

    def __call__(self, type_: str, data: dict, at: datetime, source: str | None = None,
                 actor: str | None = None) -> dict:
        self.n += 1
        source = source or {"lead": "leads", "customer": "customers", "ticket": "service_desk"
                            }.get(type_.split(".")[0], "sales")
        return {"id": f"{self.n:032x}", "type": type_, "version": 1,
                "occurred_at": at.isoformat(), "source": source, "actor_id": actor,
                "correlation_id": f"c{self.n}", "data": data}


def deliver(store: Store, body: dict) -> bool:
    """One delivery in its own transaction (the consumer with a batch of one)."""
    event = handlers.parse_event(body)
    applied = False
    with store.unit() as uow:
        if uow.first_delivery({"id": event.id, "type": event.type}, "analytics"):
            handlers.record_event(uow, event)
            applied = True
    return applied


def funnel(store: Store, principal: Principal = ADMIN, **kwargs) -> dict:
    with store.unit() as uow:
        return handlers.funnel(uow, principal, **kwargs)


def activity(store: Store, principal: Principal = ADMIN, **kwargs) -> dict:
    with store.unit() as uow:
        return handlers.activity(uow, principal, **kwargs)


def snapshot(store: Store, drop_zero_counts: bool = False) -> dict:
    """Every projection row, sorted: two stores with equal snapshots answer alike."""
    out = {}
    with store.engine.connect() as conn:
        for model in PROJECTIONS:
            rows = [r._mapping for r in conn.execute(sa.select(model.__table__))]
            if drop_zero_counts and model in EVENT_COUNTS + STAGE_COUNTS:
                rows = [r for r in rows if r["count"] or r["amount_cents"]]
            out[model.__tablename__] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out


PIPELINE = {"pipeline_id": "p1", "name": "默认流程", "stages": [
    {"name": "初步接洽", "probability": 10, "kind": "open"},
    {"name": "需求确认", "probability": 30, "kind": "open"},
    {"name": "方案报价", "probability": 50, "kind": "open"},
    {"name": "谈判审核", "probability": 70, "kind": "open"},
    {"name": "赢单", "probability": 100, "kind": "won"},
    {"name": "输单", "probability": 0, "kind": "lost"}]}
PROBABILITY = {s["name"]: s["probability"] for s in PIPELINE["stages"]}


def opp(opportunity_id, owner, amount, stage, status="open", team="t1", pipeline="p1",
        **extra) -> dict:
    return {"opportunity_id": opportunity_id, "customer_id": "c-" + opportunity_id,
            "owner_id": owner, "team_id": team, "pipeline_id": pipeline,
            "name": f"商机{opportunity_id}", "amount": amount, "stage": stage,
            "probability": PROBABILITY.get(stage), "status": status,
            "expected_close_date": "2026-06-30", **extra}


def moved(opportunity_id, owner, amount, before, after, status="open", **extra) -> dict:
    return opp(opportunity_id, owner, amount, after, status, from_stage=before, to_stage=after,
               **extra)


def lead(lead_id, owner=None, name="张伟", company="上海星辰科技", status="new") -> dict:
    return {"lead_id": lead_id, "name": name, "company": company, "source": "expo",
            "pool": "default", "status": status, "owner_id": owner, "follow_up_deadline": None}


def business_story(e: Events) -> list[dict]:
    """Two reps (A, B) of team t1, one lead from the pool, three opportunities."""
    t = T0
    return [
        e("pipeline.created", PIPELINE, t),
        e("lead.created", lead("L1"), t),
        e("lead.created", lead("L2", name="李娜", company="杭州云帆"), t + timedelta(minutes=1)),
        e("lead.created", lead("L3", owner="B", name="王芳", company=None),
          t + timedelta(minutes=2)),
        e("lead.claimed", lead("L1", owner="A", status="following"), t + timedelta(minutes=5)),
        e("lead.converted", lead("L1", owner="A", status="converted"), t + timedelta(hours=1)),
        e("customer.created", {"customer_id": "C1", "lead_id": "L1", "owner_id": "A",
                               "team_id": "t1", "name": "上海星辰科技", "level": "B",
                               "status": "potential"}, t + timedelta(hours=1)),
        e("customer.created", {"customer_id": "C2", "lead_id": None, "owner_id": "B",
                               "team_id": "t1", "name": "杭州云帆", "level": "C",
                               "status": "potential"}, t + timedelta(hours=1, minutes=1)),
        e("opportunity.created", opp("o1", "A", "100.00", "初步接洽"), t + timedelta(hours=2)),
        e("opportunity.created", opp("o2", "A", "200.50", "初步接洽"), t + timedelta(hours=2)),
        e("opportunity.created", opp("o3", "B", "300.00", "初步接洽"), t + timedelta(hours=2)),
        e("opportunity.stage_changed", moved("o1", "A", "100.00", "初步接洽", "需求确认"),
          t + timedelta(hours=3)),
        e("opportunity.stage_changed", moved("o2", "A", "200.50", "初步接洽", "需求确认"),
          t + timedelta(hours=3)),
        e("opportunity.stage_changed", moved("o1", "A", "100.00", "需求确认", "方案报价"),
          t + timedelta(hours=4)),
        e("opportunity.stage_changed", moved("o1", "A", "100.00", "方案报价", "谈判审核"),
          t + timedelta(hours=5)),
        e("opportunity.stage_changed", moved("o1", "A", "100.00", "谈判审核", "赢单", "won"),
          t + timedelta(hours=6)),
        e("opportunity.won", opp("o1", "A", "100.00", "赢单", "won"), t + timedelta(hours=6)),
        e("opportunity.stage_changed", moved("o2", "A", "200.50", "需求确认", "输单", "lost",
                                             lost_reason="预算不足"), t + timedelta(hours=7)),
        e("opportunity.lost", opp("o2", "A", "200.50", "输单", "lost", lost_reason="预算不足"),
          t + timedelta(hours=7)),
        e("ticket.created", {"ticket_id": "K1", "number": "T-0001", "customer_id": "C1",
                             "owner_id": "A", "assignee_id": "S1", "title": "无法登录",
                             "channel": "phone", "category": "fault", "priority": "high",
                             "status": "open"}, t + timedelta(hours=8)),
    ]


def stages(result: dict) -> list[tuple]:
    return [(s["stage"], s["count"], s["amount"], s["conversion_rate"]) for s in result["stages"]]


def test_funnel_counts_amounts_and_conversion(store):
    for body in business_story(Events()):
        assert deliver(store, body)
    result = funnel(store)
    assert result["pipeline_id"] == "p1"
    assert stages(result) == [
        ("初步接洽", 3, "600.50", None),
        ("需求确认", 2, "300.50", "0.6667"),
        ("方案报价", 1, "100.00", "0.5000"),
        ("谈判审核", 1, "100.00", "1.0000"),
        ("赢单", 1, "100.00", "1.0000"),
    ]
    assert result["overall"] == {
        "leads": 3, "customers": 2, "opportunities": 3, "won": 1,
        "lead_to_customer": "0.6667", "customer_to_opportunity": "1.5000",
        "opportunity_to_won": "0.3333"}
    with store.unit() as uow:
        o2 = uow.session.get(OpportunityState, "o2")
        assert (o2.status, o2.stage, o2.lost_reason, str(o2.amount)) == (
            "lost", "输单", "预算不足", "200.50")
        l1 = uow.session.get(LeadState, "L1")
        assert (l1.owner_id, l1.status, l1.converted_at is not None) == ("A", "converted", True)


def test_scope_filters_records_pool_leads_count_for_everyone(store):
    for body in business_story(Events()):
        deliver(store, body)
    a = funnel(store, own("A"))
    assert stages(a)[:2] == [("初步接洽", 2, "300.50", None), ("需求确认", 2, "300.50", "1.0000")]
    # two pool leads (L1, L2) count for A; B's own lead L3 does not
    assert a["overall"]["leads"] == 2 and a["overall"]["customers"] == 1
    assert a["overall"]["opportunities"] == 2 and a["overall"]["won"] == 1
    b = funnel(store, own("B"))
    assert stages(b)[0] == ("初步接洽", 1, "300.00", None) and b["overall"]["leads"] == 3
    nobody = funnel(store, own("Z"))
    assert [s["count"] for s in nobody["stages"]] == [0, 0, 0, 0, 0]
    assert nobody["overall"]["leads"] == 2 and nobody["overall"]["customers"] == 0
    # an owner filter narrows within the scope, never widens it
    assert funnel(store, own("A"), owner_id="B")["stages"][0]["count"] == 0
    assert funnel(store, owner_id="B")["stages"][0]["count"] == 1


def test_team_filter_and_leads_without_team(store):
    e = Events()
    for body in business_story(e):
        deliver(store, body)
    deliver(store, e("opportunity.created", opp("o9", "C", "50.00", "初步接洽", team="t2"),
                     T0 + timedelta(hours=9)))
    t2 = funnel(store, team_id="t2")
    assert stages(t2)[0] == ("初步接洽", 1, "50.00", None)
    assert t2["overall"]["leads"] is None and t2["overall"]["lead_to_customer"] is None
    assert t2["overall"]["opportunities"] == 1 and t2["overall"]["customers"] == 0


def test_reassigned_opportunity_moves_with_all_its_stages(store):
    e = Events()
    for body in business_story(e):
        deliver(store, body)
    # o3 goes from B to A with a new amount on its next stage change
    change = moved("o3", "A", "350.00", "初步接洽", "需求确认")
    deliver(store, e("opportunity.stage_changed", change, T0 + timedelta(hours=9)))
    a, b = funnel(store, own("A")), funnel(store, own("B"))
    assert stages(a)[:2] == [("初步接洽", 3, "650.50", None), ("需求确认", 3, "650.50", "1.0000")]
    assert [s["count"] for s in b["stages"]] == [0, 0, 0, 0, 0]
    assert funnel(store)["stages"][0]["amount"] == "650.50"


def test_same_event_twice_counts_once(store):
    e = Events()
    body = e("opportunity.created", opp("o1", "A", "100.00", "初步接洽"), T0)
    assert deliver(store, body) is True
    assert deliver(store, json.loads(json.dumps(body))) is False
    assert funnel(store)["stages"][0]["count"] == 1
    assert funnel(store)["overall"]["opportunities"] == 1
    with store.unit() as uow:
        assert uow.session.execute(sa.select(sa.func.count()).select_from(EventLogEntry)
                                   ).scalar_one() == 1


def test_rebuild_from_the_log_gives_identical_results(store):
    from services.analytics.campaigns import campaign_report
    e = Events()
    for body in business_story(e):
        deliver(store, body)
    campaign = {"campaign_id": "K1", "name": "展会", "channel": "expo", "budget": "900.00",
                "starts_on": "2026-03-01", "ends_on": "2026-03-02", "owner_id": "A"}
    deliver(store, e("campaign.updated", {**campaign, "budget": "1200.00"}, T0 + timedelta(
        hours=1), source="leads"))
    deliver(store, e("campaign.created", campaign, T0, source="leads"))  # late: stays 1200
    deliver(store, e("lead.updated", {**lead("L1"), "campaign_id": "K1"}, T0 + timedelta(
        hours=2)))
    before_rows, before = snapshot(store), funnel(store)
    before_a, before_feed = funnel(store, own("A")), activity(store)
    with store.unit() as uow:
        before_campaigns = campaign_report(uow, ADMIN)
    assert before_campaigns["items"][0]["budget"] == "1200.00"
    assert before_campaigns["items"][0]["leads"] == 1
    with store.unit() as uow:
        done = handlers.rebuild_projections(uow, ADMIN)
    assert done["events"] == 23
    assert snapshot(store) == before_rows
    assert funnel(store) == before and funnel(store, own("A")) == before_a
    assert activity(store) == before_feed
    with store.unit() as uow:
        assert campaign_report(uow, ADMIN) == before_campaigns


def test_rebuild_is_for_administrators(store):
    with store.unit() as uow, pytest.raises(Forbidden):
        handlers.rebuild_projections(uow, own("A"))


def test_any_delivery_order_converges(store, tmp_path):
    story = business_story(Events())
    for body in story:
        deliver(store, body)
    for seed in range(3):
        other = Store("analytics", Base.metadata, MIGRATIONS,
                      f"sqlite:///{tmp_path}/shuffled{seed}.db", "memory://", relay=False)
        other.migrate()
        shuffled = story[:]
        random.Random(seed).shuffle(shuffled)
        for body in shuffled:
            deliver(other, body)
        assert snapshot(other, drop_zero_counts=True) == snapshot(store, drop_zero_counts=True)
        assert funnel(other) == funnel(store)
        other.engine.dispose()


def test_batches_give_the_same_read_models_as_one_event_per_transaction(store, tmp_path):
    """What the batch consumer does (``record_events``): duplicates inside and across
    batches count once, counters written once per batch equal the per-event result."""
    story = business_story(Events())
    for body in story:
        deliver(store, body)
    batched = Store("analytics", Base.metadata, MIGRATIONS, f"sqlite:///{tmp_path}/b.db",
                    "memory://", relay=False)
    batched.migrate()
    deliveries = story + story[3:9]                       # redelivered events
    random.Random(3).shuffle(deliveries)
    applied = []
    for start in range(0, len(deliveries), 7):
        with batched.unit() as uow:
            applied += handlers.record_events(
                uow, [handlers.parse_event(b) for b in deliveries[start:start + 7]])
    assert sorted(e.id for e in applied) == sorted(b["id"] for b in story)
    assert snapshot(batched, drop_zero_counts=True) == snapshot(store, drop_zero_counts=True)
    assert funnel(batched) == funnel(store)
    batched.engine.dispose()


def one_at_a_time_and_in_one_batch(store: Store, tmp_path, story: list[dict]) -> Store:
    """``story`` applied to ``store`` one event per transaction, and to a new store (returned)
    in one ``record_events`` batch."""
    for body in story:
        deliver(store, body)
    batched = Store("analytics", Base.metadata, MIGRATIONS, f"sqlite:///{tmp_path}/b.db",
                    "memory://", relay=False)
    batched.migrate()
    with batched.unit() as uow:
        handlers.record_events(uow, [handlers.parse_event(b) for b in story])
    return batched


def test_a_batch_logs_each_event_as_one_at_a_time_would(store, tmp_path):
    """``log_many`` writes plain rows (no ORM object per event); every column of the log
    (owner, team, subject, amount, data, times) must equal what ``log`` writes through the
    ORM for one event, and the server must number the rows in the batch's order."""
    story = business_story(Events())
    batched = one_at_a_time_and_in_one_batch(store, tmp_path, story)

    def log_rows(of: Store) -> list[dict]:
        with of.engine.connect() as conn:
            rows = conn.execute(sa.select(EventLogEntry.__table__)
                                .order_by(EventLogEntry.seq)).mappings().all()
        return [{k: v for k, v in row.items() if k != "logged_at"} for row in rows]

    one_by_one, in_batch = log_rows(store), log_rows(batched)
    assert [r["id"] for r in in_batch] == [b["id"] for b in story]
    assert in_batch == one_by_one
    assert any(r["amount"] is not None for r in in_batch)
    assert any(r["owner_id"] and r["team_id"] and r["subject_id"] for r in in_batch)
    batched.engine.dispose()


def lead_story(e: Events) -> list[dict]:
    """230 leads, more than one upsert statement holds, a later event of some carrying fewer
    fields than their first, one lead's three events, and events of other types between."""
    t = T0
    story = [e("pipeline.created", PIPELINE, t)]
    for n in range(230):
        story.append(e("lead.created", lead(f"L{n:03d}", owner=f"u{n % 3}"), t))
        if n % 40 == 0:
            story.append(e("opportunity.created", opp(f"o{n}", "A", "10", "初步接洽"), t))
    for n in range(0, 230, 7):
        story.append(e("lead.claimed", {"lead_id": f"L{n:03d}", "status": "claimed",
                                        "owner_id": "B"}, t + timedelta(minutes=1)))
    story.append(e("lead.updated", {**lead("L007", owner="B", name="李娜"), "status": "claimed"},
                   t + timedelta(minutes=2)))
    return story


def test_a_batch_of_lead_events_is_written_as_one_at_a_time_would(store, tmp_path):
    """A batch's lead upserts go out in few statements (``projections._write_leads``):
    more leads than one statement holds, a lead's later event carrying fewer fields than its
    first (it must not land first and leave the name empty), a lead's three events in one
    batch, and events of other types between them."""
    batched = one_at_a_time_and_in_one_batch(store, tmp_path, lead_story(Events()))
    assert snapshot(batched) == snapshot(store)
    with batched.engine.connect() as conn:
        rows = {r.lead_id: r for r in conn.execute(sa.select(LeadState.__table__))}
    assert len(rows) == 230
    assert (rows["L014"].name, rows["L014"].owner_id, rows["L014"].status) == \
        ("张伟", "B", "claimed")
    assert (rows["L007"].name, rows["L007"].owner_id) == ("李娜", "B")
    assert (rows["L015"].owner_id, rows["L015"].status) == ("u0", "new")
    batched.engine.dispose()


def test_undeclared_pipeline_orders_stages_by_probability(store):
    e = Events()
    # the default pipeline never announced itself; its events arrive out of stage order
    deliver(store, e("opportunity.created", opp("o1", "A", "10", "需求确认", pipeline="dp"), T0))
    deliver(store, e("opportunity.created", opp("o2", "A", "20", "初步接洽", pipeline="dp"), T0))
    deliver(store, e("opportunity.lost", opp("o2", "A", "20", "输单", "lost", pipeline="dp"),
                     T0 + timedelta(hours=1)))
    deliver(store, e("opportunity.won", opp("o1", "A", "10", "赢单", "won", pipeline="dp"),
                     T0 + timedelta(hours=1)))
    deliver(store, e("opportunity.created", opp("x1", "A", "5", "初步接洽", pipeline="other"), T0))
    result = funnel(store)  # no pipeline asked: the one with most opportunities
    assert result["pipeline_id"] == "dp"
    assert [(s["stage"], s["count"]) for s in result["stages"]] == [
        ("初步接洽", 1), ("需求确认", 1), ("赢单", 1)]
    assert funnel(store, pipeline_id="other")["stages"][0]["count"] == 1


def test_period_edges_match_a_brute_force_count(store):
    """Random events over four months; any period answers like counting them one by one."""
    rng, e = random.Random(7), Events()
    owners, bodies, opened = ["A", "B", None], [], {}
    for i in range(300):
        at = T0 + timedelta(minutes=rng.randrange(-40 * 24 * 60, 80 * 24 * 60))
        kind = rng.choice(["lead.created", "customer.created", "opportunity.created",
                           "opportunity.won"])
        owner = rng.choice(owners)
        if kind.startswith("lead"):
            data = lead(f"L{i}", owner)
        elif kind.startswith("customer"):
            data = {"customer_id": f"C{i}", "owner_id": owner, "team_id": "t1", "name": "客户"}
        else:
            owner = owner or "A"
            stage, status = ("初步接洽", "open") if kind.endswith("created") else ("赢单", "won")
            data = opp(f"o{i}", owner, f"{rng.randrange(1, 10**6)}.{rng.randrange(100):02d}",
                       stage, status)
            if kind.endswith("created"):
                opened[f"o{i}"] = (at, owner, data["amount"])
        bodies.append(e(kind, data, at))
    for body in bodies:
        deliver(store, body)
    for i in range(60):
        a = T0 + timedelta(minutes=rng.randrange(-45 * 24 * 60, 85 * 24 * 60))
        b = a + timedelta(minutes=rng.randrange(1, rng.choice([3, 100]) * 24 * 60))
        if i % 3 == 0:  # on business midnights, so whole days and months are used
            a, b = (t.astimezone(SH).replace(hour=0, minute=0).astimezone(UTC) for t in (a, b))
            if a == b:
                continue
        start, end = rng.choice([(a, b), (a, b), (None, b), (a, None)])
        who = rng.choice([ADMIN, own("A"), own("B")])

        def inside(t, start=start, end=end):
            return (start is None or t >= start) and (end is None or t < end)

        def visible(owner, who=who):
            return who.sees_all or owner is None or owner in who.visible_user_ids

        expected = {t: sum(1 for body in bodies if body["type"] == t
                           and inside(datetime.fromisoformat(body["occurred_at"]))
                           and visible(body["data"].get("owner_id")))
                    for t in handlers.OVERALL}
        first = [v for v in opened.values() if inside(v[0]) and visible(v[1])]
        result = funnel(store, who, start=start and start.isoformat(),
                        end=end and end.isoformat())
        assert (result["overall"]["leads"], result["overall"]["customers"],
                result["overall"]["opportunities"], result["overall"]["won"]) == tuple(
                    expected[t] for t in handlers.OVERALL)
        step = result["stages"][0]
        assert step["stage"] == "初步接洽" and step["count"] == len(first)
        total = sum(int(round(float(v[2]) * 100)) for v in first)
        assert step["amount"] == f"{total // 100}.{total % 100:02d}"


def test_monthly_rollups_are_the_sum_of_the_daily_ones(store):
    e = Events()
    for body in business_story(e):
        deliver(store, body)
    for i, days in enumerate((-40, -3, 0, 29, 31, 75)):
        deliver(store, e("opportunity.created", opp(f"m{i}", "A", f"{i}.25", "初步接洽"),
                         T0 + timedelta(days=days)))
    deliver(store, e("opportunity.stage_changed", moved("m1", "B", "9.99", "初步接洽", "需求确认"),
                     T0 + timedelta(days=80)))
    with store.engine.connect() as conn:
        for daily, monthly in (EVENT_COUNTS, STAGE_COUNTS):
            keys = [c for c in daily.__table__.primary_key.columns.keys() if c != "day"]
            summed: dict = {}
            for row in conn.execute(sa.select(daily.__table__)):
                m = row._mapping
                k = (*[m[c] for c in keys], m["day"].replace(day=1))
                count, cents = summed.get(k, (0, 0))
                summed[k] = (count + m["count"], cents + m["amount_cents"])
            monthly_rows = {(*[r._mapping[c] for c in keys], r._mapping["day"]):
                            (r._mapping["count"], r._mapping["amount_cents"])
                            for r in conn.execute(sa.select(monthly.__table__))}
            assert summed == monthly_rows


def test_bad_funnel_input_is_a_validation_error(store):
    with pytest.raises(ValidationFailed):
        funnel(store, start="2026-03-02T00:00:00")  # no offset
    with pytest.raises(ValidationFailed):
        funnel(store, start="2026-03-02T00:00:00+08:00", end="2026-03-01T00:00:00+08:00")


def test_poison_event_leaves_nothing_behind(store):
    e = Events()
    body = e("opportunity.created", opp("o1", "A", "not-a-number", "初步接洽"), T0)
    with pytest.raises(MalformedEvent):
        deliver(store, body)
    with pytest.raises(MalformedEvent):
        deliver(store, e("lead.claimed", {"name": "无编号"}, T0))
    assert snapshot(store) == {m.__tablename__: [] for m in PROJECTIONS}
    with store.unit() as uow:
        assert uow.session.execute(sa.select(sa.func.count()).select_from(EventLogEntry)
                                   ).scalar_one() == 0


def test_unknown_types_are_only_logged(store):
    e = Events()
    assert deliver(store, e("invoice.issued", {"invoice_id": "I9", "owner_id": "A",
                                               "amount": "abc"}, T0))
    assert all(rows == [] for rows in snapshot(store).values())
    item = activity(store)["items"][0]
    assert (item["type"], item["summary"], item["owner_id"]) == (
        "invoice.issued", "业务事件 invoice.issued", "A")


def test_activity_newest_first_in_scope_with_keyset_pages(store):
    story = business_story(Events())
    for body in story:
        deliver(store, body)
    feed = activity(store, limit=5)
    assert [i["id"] for i in feed["items"]] == [b["id"] for b in reversed(story)][:5]
    seen, cursor = [], None
    while True:
        page = activity(store, cursor=cursor, limit=7)
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [b["id"] for b in reversed(story)]

    claimed = next(i for i in activity(store, limit=200)["items"] if i["type"] == "lead.claimed")
    assert claimed["summary"] == "线索「张伟 / 上海星辰科技」被领取"
    assert (claimed["subject_id"], claimed["owner_id"], claimed["source"]) == ("L1", "A", "leads")
    assert claimed["data"]["lead_id"] == "L1"

    b_items = activity(store, own("B"), limit=200)["items"]
    assert {i["owner_id"] for i in b_items} <= {"B", None}
    assert {i["subject_id"] for i in b_items if i["owner_id"] is None} >= {"L1", "L2", "p1"}
    assert not any(i["subject_id"] in ("o1", "o2", "C1", "K1") for i in b_items)
    with pytest.raises(ValidationFailed):
        activity(store, cursor="!!!")
    with pytest.raises(ValidationFailed):
        activity(store, limit=0)


def test_activity_for_a_reader_who_sees_hundreds_of_owners(store):
    story = business_story(Events())
    for body in story:
        deliver(store, body)
    wide = Principal(user_id="M", role="manager", data_scope="team_tree",
                     visible_user_ids=frozenset({f"u{i:03d}" for i in range(450)} | {"B"}))
    items = activity(store, wide, limit=200)["items"]
    expected = [b["id"] for b in reversed(story) if b["data"].get("owner_id") in (None, "B")]
    assert [i["id"] for i in items] == expected
