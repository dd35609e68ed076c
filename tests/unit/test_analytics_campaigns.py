"""Campaign ROI on a real (migrated) SQLite analytics store, through the consumer's path
(idempotency, log, projection): a hand-computed history of three campaigns with a budget
change, a refund, lost deals, a merged customer, duplicate deliveries and events out of
order; every figure checked, then the same after any delivery order and after a rebuild."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from crmkit.errors import Forbidden, NotFound, ValidationFailed
from crmkit.principal import Principal
from services.analytics import campaigns, handlers, insights
from services.analytics.domain.campaigns import Tally, figures
from tests.unit.test_analytics_projections import (  # noqa: F401 - fixture
    Events,
    deliver,
    own,
    snapshot,
    store,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
ADMIN = Principal(user_id="admin", role="admin")
MANAGER = Principal(user_id="M", role="manager", team_id="t1", data_scope="team",
                    visible_user_ids=frozenset({"A", "M"}))

CA = {"campaign_id": "CA", "name": "2026 上海工博会", "channel": "expo", "budget": "10000.00",
      "starts_on": "2026-03-01", "ends_on": "2026-03-05", "owner_id": "M"}
CB = {"campaign_id": "CB", "name": "微信裂变", "channel": "wechat", "budget": "4000.00",
      "starts_on": "2026-03-10", "ends_on": "2026-03-20", "owner_id": "M"}
CC = {"campaign_id": "CC", "name": "EDM 春季", "channel": "email", "budget": "0.00",
      "starts_on": "2026-04-01", "ends_on": "2026-04-30", "owner_id": "M"}


def lead(lead_id, campaign_id, **extra):
    return {"lead_id": lead_id, "name": f"联系人{lead_id}", "owner_id": "A", "status": "new",
            "campaign_id": campaign_id, "industry": "制造业", "region": "上海", **extra}


def customer(customer_id, lead_id):
    return {"customer_id": customer_id, "lead_id": lead_id, "owner_id": "A", "team_id": "t1",
            "name": f"客户{customer_id}", "level": "B", "status": "potential"}


def opp(opportunity_id, customer_id, amount, status="open"):
    stage = {"open": "需求确认", "won": "赢单", "lost": "输单"}[status]
    return {"opportunity_id": opportunity_id, "customer_id": customer_id, "owner_id": "A",
            "team_id": "t1", "pipeline_id": "p1", "amount": amount, "stage": stage,
            "status": status}


def contract(contract_id, customer_id, total):
    return {"contract_id": contract_id, "customer_id": customer_id, "owner_id": "A",
            "team_id": "t1", "total": total, "status": "signed"}


def story(e: Events) -> list[dict]:
    """In the order it happened (the tests deliver it in other orders)."""
    return [
        e("campaign.created", CA, T0, source="leads"),
        e("campaign.created", CB, T0 + H, source="leads"),
        e("campaign.created", CC, T0 + H, source="leads"),
        e("campaign.updated", {**CB, "budget": "5000.00",
                               "changes": {"budget": {"from": "4000.00", "to": "5000.00"}}},
          T0 + 2 * H, source="leads"),
        e("lead.created", lead("L1", "CA"), T0 + 3 * H),
        e("lead.created", lead("L2", "CA"), T0 + 3 * H),
        e("lead.created", lead("L3", "CA"), T0 + 3 * H),
        e("lead.created", lead("L4", "CB"), T0 + 3 * H),
        e("lead.created", lead("L5", "CA"), T0 + 3 * H),
        e("lead.created", lead("L6", None), T0 + 3 * H),
        e("lead.created", lead("L7", "CC"), T0 + 3 * H),
        # L5 was tagged with the wrong campaign: moved to CB
        e("lead.updated", {**lead("L5", "CB"),
                           "changes": {"campaign_id": {"from": "CA", "to": "CB"}}}, T0 + 4 * H),
        *[e("lead.converted", lead(f"L{i}", c, status="converted"), T0 + 5 * H)
          for i, c in ((1, "CA"), (2, "CA"), (4, "CB"), (5, "CB"), (6, None))],
        e("customer.created", customer("C1", "L1"), T0 + 6 * H),
        e("customer.created", customer("C2", "L2"), T0 + 6 * H),
        e("customer.created", customer("C4", "L4"), T0 + 6 * H),
        e("customer.created", customer("C5", "L5"), T0 + 6 * H),
        e("customer.created", customer("C6", "L6"), T0 + 6 * H),
        e("opportunity.created", opp("O1", "C1", "100000.00"), T0 + D),
        e("opportunity.created", opp("O2", "C1", "20000.00"), T0 + D),
        e("opportunity.created", opp("O3", "C2", "30000.00"), T0 + D),
        e("opportunity.created", opp("O4", "C4", "50000.00"), T0 + D),
        e("opportunity.created", opp("O5", "C5", "8000.00"), T0 + D),
        e("opportunity.created", opp("O6", "C6", "7000.00"), T0 + D),
        e("opportunity.won", opp("O1", "C1", "100000.00", "won"), T0 + 2 * D),
        e("opportunity.lost", opp("O2", "C1", "20000.00", "lost"), T0 + 2 * D),
        e("opportunity.won", opp("O4", "C4", "50000.00", "won"), T0 + 2 * D),
        e("opportunity.lost", opp("O5", "C5", "8000.00", "lost"), T0 + 2 * D),
        e("opportunity.won", opp("O6", "C6", "7000.00", "won"), T0 + 2 * D),
        e("contract.signed", contract("K1", "C1", "100000.00"), T0 + 3 * D),
        e("contract.signed", contract("K4", "C4", "50000.00"), T0 + 3 * D),
        e("contract.signed", contract("K6", "C6", "7000.00"), T0 + 3 * D),
        e("return.refunded", {"return_id": "R1", "customer_id": "C1", "owner_id": "A",
                              "refund_amount": "5000.00"}, T0 + 4 * D, source="service_desk"),
    ]


def merge(e: Events) -> dict:
    """C6 (lead L6, no campaign) merged into C5 (lead L5, campaign CB)."""
    return e("customer.merged", {"survivor_id": "C5", "merged_id": "C6", "owner_id": "A"},
             T0 + 5 * D, source="customers")


EXPECTED = {
    "CA": {"budget": "10000.00", "leads": 3, "customers": 2, "opportunities": 3,
           "won_opportunities": 1, "won_opportunity_amount": "100000.00", "won_customers": 1,
           "revenue": "100000.00", "refunds": "5000.00", "won_amount": "95000.00",
           "cost_per_lead": "3333.33", "cost_per_won_customer": "10000.00",
           "lead_conversion_rate": "0.6667", "roi": "8.5000"},
    "CB": {"budget": "5000.00", "leads": 2, "customers": 2, "opportunities": 3,
           "won_opportunities": 2, "won_opportunity_amount": "57000.00", "won_customers": 2,
           "revenue": "57000.00", "refunds": "0.00", "won_amount": "57000.00",
           "cost_per_lead": "2500.00", "cost_per_won_customer": "2500.00",
           "lead_conversion_rate": "1.0000", "roi": "10.4000"},
    "CC": {"budget": "0.00", "leads": 1, "customers": 0, "opportunities": 0,
           "won_opportunities": 0, "won_opportunity_amount": "0.00", "won_customers": 0,
           "revenue": "0.00", "refunds": "0.00", "won_amount": "0.00",
           "cost_per_lead": "0.00", "cost_per_won_customer": None,
           "lead_conversion_rate": "0.0000", "roi": None},
}
TOTAL = {"campaigns": 3, "budget": "15000.00", "leads": 6, "customers": 4, "opportunities": 6,
         "won_opportunities": 3, "won_opportunity_amount": "157000.00", "won_customers": 3,
         "revenue": "157000.00", "refunds": "5000.00", "won_amount": "152000.00",
         "cost_per_lead": "2500.00", "cost_per_won_customer": "5000.00",
         "lead_conversion_rate": "0.6667", "roi": "9.1333"}


def report(store, principal=ADMIN, **kwargs):  # noqa: F811
    with store.unit() as uow:
        return campaigns.campaign_report(uow, principal, **kwargs)


def check_every_figure(store):  # noqa: F811
    answer = report(store)
    got = {i["campaign_id"]: {k: i[k] for k in EXPECTED["CA"]} for i in answer["items"]}
    assert got == EXPECTED
    assert answer["total"] == TOTAL
    assert [i["campaign_id"] for i in answer["items"]] == ["CC", "CB", "CA"]  # newest start
    cb = next(i for i in answer["items"] if i["campaign_id"] == "CB")
    assert (cb["name"], cb["channel"], cb["starts_on"], cb["ends_on"]) == \
        ("微信裂变", "wechat", "2026-03-10", "2026-03-20")
    return answer


def test_every_figure_with_duplicates_and_events_out_of_order(store):  # noqa: F811
    e = Events()
    bodies = story(e)
    late = [b for b in bodies if (b["type"], b["data"].get("campaign_id"),
                                  b["data"].get("lead_id")) in {
        ("campaign.created", "CB", None),            # after its update: keeps 5000.00
        ("lead.created", "CA", "L5"),                # after the move to CB: stays in CB
        ("lead.created", "CB", "L4"),                # after customer C4 exists
    }]
    late_ids = {b["id"] for b in late}
    won_o4 = next(b for b in bodies if b["type"] == "opportunity.won"
                  and b["data"]["opportunity_id"] == "O4")
    ordered = [won_o4] + [b for b in bodies if b["id"] not in late_ids and b is not won_o4]
    for body in ordered + late:
        assert deliver(store, body)
    for body in bodies[::3]:   # duplicate deliveries change nothing
        assert not deliver(store, dict(body))
    before = {i["campaign_id"]: i for i in report(store)["items"]}
    assert (before["CB"]["won_customers"], before["CB"]["won_amount"]) == (1, "50000.00")
    assert deliver(store, merge(e))   # C6's won business moves to C5, so to CB
    check_every_figure(store)


def test_any_delivery_order_gives_the_same_report(store):  # noqa: F811
    e = Events()
    bodies = story(e)
    shuffled = bodies + [dict(b) for b in bodies[::4]]
    random.Random(12).shuffle(shuffled)
    for body in shuffled:
        deliver(store, body)
    deliver(store, merge(e))
    check_every_figure(store)


def test_filters_detail_and_rebuild(store):  # noqa: F811
    e = Events()
    for body in story(e):
        deliver(store, body)
    deliver(store, merge(e))
    answer = check_every_figure(store)

    expo = report(store, channel="expo")
    assert [i["campaign_id"] for i in expo["items"]] == ["CA"]
    assert expo["total"]["roi"] == "8.5000" and expo["total"]["campaigns"] == 1
    march = report(store, start="2026-03-06", end="2026-03-31")
    assert [i["campaign_id"] for i in march["items"]] == ["CB"]   # CA ended on the 5th
    edge = report(store, start="2026-03-05", end="2026-03-10")
    assert [i["campaign_id"] for i in edge["items"]] == ["CB", "CA"]  # both ends included
    assert report(store, start="2026-05-01")["items"] == []
    assert report(store, start="2026-05-01")["total"]["roi"] is None

    with store.unit() as uow:
        detail = campaigns.campaign_detail(uow, MANAGER, "CB")
        promotion = insights.customer_profile(uow, ADMIN, "C5")["promotion"]
        untagged = insights.customer_profile(uow, ADMIN, "C6")["promotion"]
    assert {k: detail[k] for k in EXPECTED["CB"]} == EXPECTED["CB"]
    assert (promotion["campaign_id"], promotion["campaign_name"],
            promotion["campaign_channel"]) == ("CB", "微信裂变", "wechat")   # the 7th P
    assert untagged["campaign_id"] is None and untagged["campaign_name"] is None

    before = snapshot(store, drop_zero_counts=True)
    with store.unit() as uow:
        handlers.rebuild_projections(uow, ADMIN)
    assert snapshot(store, drop_zero_counts=True) == before
    assert report(store) == answer


def test_rejects_bad_input_and_readers(store):  # noqa: F811
    for kwargs in ({"channel": "tv"}, {"start": "2026-02-30"}, {"end": "yesterday"},
                   {"start": "2026-03-10", "end": "2026-03-01"}):
        with pytest.raises(ValidationFailed):
            report(store, **kwargs)
    with pytest.raises(Forbidden):
        report(store, own("A"))
    with store.unit() as uow, pytest.raises(NotFound):
        campaigns.campaign_detail(uow, ADMIN, "nope")


def test_a_bad_budget_fails_the_event_and_changes_nothing(store):  # noqa: F811
    from services.analytics.domain.envelope import MalformedEvent
    e = Events()
    with pytest.raises(MalformedEvent):
        deliver(store, e("campaign.created", {**CA, "budget": "lots"}, T0, source="leads"))
    assert report(store)["items"] == []


@pytest.mark.parametrize("budget, tally, roi, per_lead, per_won", [
    (10000_00, Tally(leads=3, won_customers=1, revenue_cents=100000_00,
                     refund_cents=5000_00), "8.5000", "3333.33", "10000.00"),
    (0, Tally(leads=2, won_customers=1, revenue_cents=500_00), None, "0.00", "0.00"),
    (300_00, Tally(), "-1.0000", None, None),                        # spent, nothing back
    (300_00, Tally(leads=7, won_customers=3, revenue_cents=200_00), "-0.3333", "42.86",
     "100.00"),
    (1_00, Tally(leads=3, won_customers=3, revenue_cents=1_00 + 1), "0.0100", "0.33", "0.33"),
    (2_00, Tally(leads=8, won_customers=8, revenue_cents=2_01), "0.0050", "0.25", "0.25"),
])
def test_roi_arithmetic(budget, tally, roi, per_lead, per_won):
    f = figures(budget, tally)
    assert (f["roi"], f["cost_per_lead"], f["cost_per_won_customer"]) == (roi, per_lead, per_won)
    assert f["won_amount"] == figures(0, tally)["won_amount"]
