"""Explainable scoring and recommendations (issue 12): the pure fitting, features and
reasons, recommendation order and percentages, and the job + insights RPC use case on a
migrated SQLite analytics store. Small hand-built histories whose right order is known."""
from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmkit.errors import Forbidden, NotFound
from crmkit.principal import Principal
from services.analytics import recommend, scoring
from services.analytics import scoring_features as feats
from services.analytics import scoring_model as sm
from tests.unit.test_analytics_projections import (  # noqa: F401 - fixture
    Events,
    deliver,
    own,
    store,
)

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
D = timedelta(days=1)
ADMIN = Principal(user_id="admin", role="admin")
FIELDS = (sm.Field("source", sm.CATEGORY, "来源", "Source"),
          sm.Field("follow_ups", sm.NUMERIC, "跟进次数", "Follow-ups", "次", ""))


def _leads(n=200, seed=7):
    """Referral leads and leads with more follow-ups convert more often (known structure)."""
    rnd = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        source = rnd.choice(["referral", "ad", "expo"])
        follow = rnd.randint(0, 6)
        z = -1.5 + (2.0 if source == "referral" else -0.5 if source == "ad" else 0) \
            + 0.6 * follow
        rows.append({"source": source, "follow_ups": follow})
        labels.append(1 if rnd.random() < sm.sigmoid(z) else 0)
    return rows, labels


# -- the model -----------------------------------------------------------------------------

def test_fit_learns_the_known_direction_of_each_field():
    rows, labels = _leads()
    model = sm.fit("lead_conversion", FIELDS, rows, labels)
    coef = {(c.field, c.value): c.coef for c in model.columns}
    assert coef[("source", "referral")] > coef[("source", "expo")] > coef[("source", "ad")]
    assert coef[("follow_ups", None)] > 0
    hot = {"source": "referral", "follow_ups": 5}
    cold = {"source": "ad", "follow_ups": 0}
    assert sm.score(model, hot) > sm.score(model, {"source": "expo", "follow_ups": 2}) \
        > sm.score(model, cold)
    assert 0 <= sm.score(model, cold) < sm.score(model, hot) <= 100


def test_contributions_add_up_to_the_logit_and_reasons_name_the_push():
    rows, labels = _leads()
    model = sm.fit("lead_conversion", FIELDS, rows, labels)
    row = {"source": "referral", "follow_ups": 0}
    parts = sm.contributions(model, row)
    assert math.isclose(model.baseline + sum(parts.values()), sm.logit(model, row),
                        abs_tol=1e-9)
    told = sm.explain(model, row)
    by = {r["feature"]: r for r in told["reasons"]}
    assert by["source"]["direction"] == "up" and by["source"]["label_zh"] == "来源：referral"
    assert by["follow_ups"]["direction"] == "down"
    assert by["follow_ups"]["label_en"] == "Follow-ups: 0"
    assert [abs(r["contribution"]) for r in told["reasons"]] == \
        sorted((abs(r["contribution"]) for r in told["reasons"]), reverse=True)


def test_the_published_payload_scores_the_same():
    rows, labels = _leads()
    model = sm.fit("lead_conversion", FIELDS, rows, labels)
    again = sm.from_payload(json.loads(json.dumps(sm.to_payload(model))), FIELDS)
    for row in rows[:20]:
        assert abs(sm.logit(again, row) - sm.logit(model, row)) < 1e-4


def test_held_out_auc_is_measured_on_the_newest_fifth():
    rows, labels = _leads(400)
    samples = [(i, r, y) for i, (r, y) in enumerate(zip(rows, labels, strict=True))]
    model = sm.fit_and_measure("lead_conversion", FIELDS, samples)
    assert model.test_samples == 80 and model.samples == 400
    assert model.auc is not None and model.auc > 0.75
    noise = [(i, {"source": "x", "follow_ups": 1}, i % 2) for i in range(100)]
    assert sm.fit_and_measure("lead_conversion", FIELDS, noise).auc == pytest.approx(0.5)
    assert sm.auc([1, 1], [0.2, 0.3]) is None
    assert sm.time_split([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == ([1, 2, 3, 4, 5, 6, 7, 8],
                                                              [9, 10])


def test_a_single_label_cannot_be_fitted():
    with pytest.raises(ValueError):
        sm.fit("x", FIELDS, [{"source": "a"}] * 3, [0, 0, 0])


# -- features ------------------------------------------------------------------------------

def _ev(n, etype, at, **data):
    return (f"{n:04d}", etype, at, data)


def test_lead_samples_see_each_open_lead_as_of_each_cutoff_in_any_order():
    t0 = NOW - 30 * D
    events = [
        _ev(1, "lead.created", t0, lead_id="L1", source="expo", industry="制造"),
        _ev(2, "lead.followed_up", t0 + 2 * D, lead_id="L1",
            occurred_at=(t0 + 2 * D).isoformat()),
        _ev(3, "lead.updated", t0 + 3 * D, lead_id="L1",
            changes={"region": {"from": None, "to": "上海"}}),
        _ev(4, "lead.followed_up", t0 + 5 * D, lead_id="L1"),
        _ev(5, "lead.converted", t0 + 16 * D, lead_id="L1", source="expo", industry="制造",
            region="上海"),
        _ev(6, "lead.followed_up", t0 + 19 * D, lead_id="L1"),   # after conversion
        _ev(7, "lead.created", t0 + 8 * D, lead_id="L2", source="ad", campaign_id="K1"),
        _ev(8, "lead.created", t0 - 40 * D, lead_id="L0", source="ad"),
        _ev(9, "lead.converted", t0 - 35 * D, lead_id="L0"),     # converted before any cut
    ]
    for order in (events, list(reversed(events))):
        leads = feats.lead_histories(order)
        # window 10 days, 2 cutoffs: NOW-20 (= t0+10) and NOW-10 (= t0+20)
        samples = feats.lead_samples(leads, NOW, 10.0, cutoffs=2)
        got = {(s[0], s[1]["source"]): (s[1], s[2]) for s in samples}
        assert sorted(got) == [(NOW - 20 * D, "ad"), (NOW - 20 * D, "expo"),
                               (NOW - 10 * D, "ad")]      # L1 converted by the 2nd cut
        expo, label = got[(NOW - 20 * D, "expo")]
        assert label == 1                                  # converted in (t0+10, t0+20]
        assert expo == {"source": "expo", "campaign_id": None, "industry": "制造",
                        "region": "上海", "follow_ups": 2, "days_since_follow_up": 5.0,
                        "age_days": 10.0}
        ad, label = got[(NOW - 10 * D, "ad")]
        assert label == 0 and ad["campaign_id"] == "K1"
        assert ad["age_days"] == 12.0 and ad["days_since_follow_up"] == 12.0
        now_row = feats.lead_row(leads["L1"], NOW)
        assert now_row["follow_ups"] == 3 and now_row["days_since_follow_up"] == 11.0


def test_customer_samples_label_a_purchase_in_the_window_after_each_cutoff():
    w = 30.0
    events = [
        _ev(1, "customer.created", NOW - 100 * D, customer_id="C1", level="A", lead_id="L1"),
        _ev(2, "lead.converted", NOW - 100 * D, lead_id="L1", industry="制造"),
        _ev(3, "contract.signed", NOW - 90 * D, customer_id="C1", total="1000.00",
            signed_at=(NOW - 90 * D).isoformat()),
        _ev(4, "contract.signed", NOW - 40 * D, customer_id="C1", total="500.00"),
        _ev(5, "return.refunded", NOW - 35 * D, customer_id="C1", refund_amount="200.00"),
        _ev(6, "customer.created", NOW - 70 * D, customer_id="C2", level="C"),
        _ev(7, "customer.followed_up", NOW - 5 * D, customer_id="C2",
            happened_at=(NOW - 5 * D).isoformat()),
        _ev(8, "customer.created", NOW - 65 * D, customer_id="C3"),
        _ev(9, "contract.signed", NOW - 10 * D, customer_id="C3", total="10.00"),
        _ev(10, "customer.merged", NOW - 9 * D, survivor_id="C2", merged_id="C3"),
    ]
    customers = feats.customer_histories(events)
    assert sorted(customers) == ["C1", "C2"]           # C3 merged into C2
    samples = feats.customer_samples(customers, NOW, w, cutoffs=3)
    got = {(s[0], s[1]["level"]): s[2] for s in samples}
    # cutoffs: NOW-90 (C1 only; its contract at exactly -90 is "before"), NOW-60, NOW-30
    assert got == {(NOW - 90 * D, "A"): 0, (NOW - 60 * D, "A"): 1, (NOW - 60 * D, "C"): 0,
                   (NOW - 30 * D, "A"): 0, (NOW - 30 * D, "C"): 1}
    row = feats.customer_row(customers["C1"], NOW, w)
    assert row == {"recency_days": 40.0, "frequency": 2, "monetary": 1300.0, "level": "A",
                   "industry": "制造", "follow_ups": 0, "tickets": 0, "returns": 0}
    assert feats.customer_row(customers["C2"], NOW, w)["follow_ups"] == 1


# -- recommendations -----------------------------------------------------------------------

def _signed(n, customer, *products, contract=None):
    lines = [{"line_id": f"{contract or n}-{p}", "product_id": p, "name": f"产品{p}",
              "quantity": "1", "amount": "10.00"} for p in products]
    return _ev(n, "contract.signed", NOW, customer_id=customer, contract_id=contract or n,
               total="10.00", lines=lines)


def test_recommendations_order_percentages_and_refunds():
    events = [
        _signed(1, "A", "X", "Y"), _signed(2, "B", "X", "Y"), _signed(3, "C", "X", "Z"),
        _signed(4, "D", "X", "Z", "W"), _signed(5, "E", "X", "Y"), _signed(6, "F", "W", "Z"),
        _signed(7, "G", "X"),
        # B gave Y back (refunded), so B does not count as holding Y
        _ev(8, "return.requested", NOW, customer_id="B", return_id="R1",
            lines=[{"line_id": "2-Y", "quantity": "1"}]),
        _ev(9, "return.refunded", NOW, customer_id="B", return_id="R1",
            refund_amount="10.00"),
        # a requested return that was never refunded changes nothing
        _ev(10, "return.requested", NOW, customer_id="C", return_id="R2",
            lines=[{"line_id": "3-Z", "quantity": "1"}]),
    ]
    per = recommend.holdings(events)
    sets = {c: recommend.held(p) for c, p in per.items()}
    assert sets["B"] == {"X"} and sets["C"] == {"X", "Z"}
    buyers, pairs = recommend.cooccurrence(sets)
    assert buyers["X"] == 6 and pairs[("X", "Y")] == 2 and pairs[("X", "Z")] == 2
    names = {k: n for p in per.values() for k, (n, _, _) in p.items()}
    # G holds X only: Y (2 of 6 X-buyers) ties Z (2 of 6), Z also W→Z... ranked by confidence
    got = recommend.recommend(sets["G"], set(per["G"]), buyers, pairs, names, min_support=2)
    assert [(r["product"], r["percent"], r["because_of"]) for r in got] == \
        [("Y", 33, "X"), ("Z", 33, "X")]
    assert got[0]["reason_zh"] == "购买了产品X的客户中有33%也购买了"
    assert got[0]["reason_en"] == "bought by 33% of customers who bought 产品X"
    # B bought Y and returned it: never recommended again; Z comes from X
    got_b = recommend.recommend(sets["B"], set(per["B"]), buyers, pairs, names, min_support=2)
    assert [r["product"] for r in got_b] == ["Z"]
    # F holds W and Z: W→Z/Z→W do not recommend owned items; X via W (1 of 2) is below
    # support 2, via Z (2 of 3 Z-holders hold X) = 67 %
    got_f = recommend.recommend(sets["F"], set(per["F"]), buyers, pairs, names, min_support=2)
    assert [(r["product"], r["percent"], r["because_of"]) for r in got_f] == [("X", 67, "Z")]


# -- through the store ---------------------------------------------------------------------

def _history(e: Events) -> list[dict]:
    """60 leads, one every 5 days: referral leads are followed up and converted 20 days
    after creation, ad leads never; six customers, two of which buy every 60 days."""
    out = []
    t0 = NOW - 400 * D
    for i in range(60):
        lid, at = f"L{i:02d}", NOW - 300 * D + i * 5 * D
        good = i % 3 != 2
        src = "referral" if good else "ad"
        out.append(e("lead.created", {"lead_id": lid, "owner_id": "A", "source": src}, at))
        if good:
            out.append(e("lead.followed_up", {"lead_id": lid, "owner_id": "A"}, at + D))
            if at + 20 * D < NOW:
                out.append(e("lead.converted", {"lead_id": lid, "owner_id": "A",
                                                "industry": "制造"}, at + 20 * D))
    for c in range(6):
        cid, owner = f"C{c}", "A" if c < 3 else "B"
        out.append(e("customer.created", {"customer_id": cid, "owner_id": owner,
                                          "team_id": "t", "level": "A" if c < 2 else "C"},
                     t0))
        step = 60 if c < 2 else 400
        k, at = 0, t0 + 5 * D
        while at < NOW:
            products = ["P1", "P2"] if c % 2 == 0 else ["P1", "P3"]
            out.append(e("contract.signed", {
                "customer_id": cid, "owner_id": owner, "team_id": "t", "total": "100.00",
                "contract_id": f"K{c}-{k}", "signed_at": at.isoformat(),
                "lines": [{"line_id": f"K{c}-{k}-{p}", "product_id": p, "name": p,
                           "quantity": "1", "amount": "50.00"} for p in products]}, at))
            k, at = k + 1, at + step * D
    return out


def test_refit_publishes_the_lead_model_and_scores_customers(store, monkeypatch):  # noqa: F811
    monkeypatch.setattr(scoring.timeutil, "now", lambda: NOW)
    monkeypatch.setenv("ANALYTICS_REPURCHASE_WINDOW_DAYS", "90")
    e = Events()
    for body in _history(e):
        deliver(store, body)
    with pytest.raises(Forbidden), store.unit() as uow:
        scoring.refit(uow, own("A"))
    with store.unit() as uow:
        result = scoring.refit(uow, ADMIN)
        published = [x for x in uow.events if x["type"] == scoring.LEAD_MODEL_PUBLISHED]
    assert result["lead_conversion"]["fitted"] and result["lead_conversion"]["version"] == 1
    assert result["customer_repurchase"]["fitted"]
    assert result["customer_repurchase"]["scored"] == 6
    assert len(published) == 1
    data = published[0]["data"]
    assert data["version"] == 1 and data["window_days"] == 30.0 and data["samples"] > 60
    coef = {f["name"]: f["coef"] for f in data["features"]}
    assert coef["source=referral"] > coef["source=ad"]
    assert {f["label_zh"] for f in data["features"]} >= {"来源", "跟进次数"}
    published_model = sm.from_payload(data, feats.LEAD_FIELDS)
    hot = {"source": "referral", "follow_ups": 1, "days_since_follow_up": 4, "age_days": 5}
    cold = {"source": "ad", "follow_ups": 0, "days_since_follow_up": 5, "age_days": 5}
    assert sm.score(published_model, hot) > sm.score(published_model, cold)
    with store.engine.connect() as conn:   # the event is in the outbox, committed
        assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE type = "
                                    "'scoring.lead_model_published'")).scalar_one() == 1
    # a timer run right after skips; a forced one makes version 2
    with store.unit() as uow:
        assert scoring.refit(uow, force=False)["skipped"] is True
    with store.unit() as uow:
        assert scoring.refit(uow, ADMIN)["lead_conversion"]["version"] == 2

    with store.unit() as uow:
        frequent = scoring.customer_insights(uow, ADMIN, "C0")
        rare = scoring.customer_insights(uow, ADMIN, "C2")
        odd = scoring.customer_insights(uow, own("A"), "C1")
        with pytest.raises(NotFound):
            scoring.customer_insights(uow, own("A"), "C3")     # B's customer
        with pytest.raises(NotFound):
            scoring.customer_insights(uow, ADMIN, "nobody")
    assert frequent["repurchase"]["score"] > rare["repurchase"]["score"]
    assert frequent["repurchase"]["model_version"] == 2
    assert frequent["repurchase"]["window_days"] == 90.0
    assert frequent["repurchase"]["reasons"]
    # C0 holds P1, P2; P3 is held by C1, C3, C5 who all hold P1: 3 of 6 P1-holders = 50 %
    assert [(r["product"], r["percent"]) for r in frequent["recommendations"]] == [("P3", 50)]
    assert [r["product"] for r in odd["recommendations"]] == ["P2"]
    with store.unit() as uow:
        models = scoring.models(uow)
    assert models["lead_conversion"]["version"] == 2
    assert models["customer_repurchase"]["model"]["window_days"] == 90.0


def test_too_little_history_fits_nothing_and_publishes_nothing(store, monkeypatch):  # noqa: F811
    monkeypatch.setattr(scoring.timeutil, "now", lambda: NOW)
    e = Events()
    deliver(store, e("lead.created", {"lead_id": "L1", "owner_id": "A", "source": "ad"},
                     NOW - D))
    with store.unit() as uow:
        result = scoring.refit(uow)
        assert uow.events == []
    assert result["lead_conversion"]["fitted"] is False
    assert "samples" in result["lead_conversion"]["reason"]
    with store.unit() as uow:
        assert scoring.models(uow) == {"lead_conversion": None, "customer_repurchase": None}


def test_the_leads_service_applies_the_published_model_exactly_as_analytics():
    """services/leads/scoring.py keeps its own copy of the formula: same score, same reasons."""
    from services.leads import scoring as lead_scoring

    rnd = random.Random(3)
    rows, labels = [], []
    for _ in range(300):
        src = rnd.choice(["referral", "ad", "expo", "website"])
        row = {"source": src, "campaign_id": rnd.choice([None, "K1", "K2"]),
               "industry": rnd.choice(["制造", "零售"]), "region": None,
               "follow_ups": rnd.randint(0, 5), "days_since_follow_up": rnd.uniform(0, 40),
               "age_days": rnd.uniform(0, 90)}
        z = (1.5 if src == "referral" else -1.0) + 0.5 * row["follow_ups"] \
            - 0.05 * row["days_since_follow_up"]
        rows.append(row)
        labels.append(1 if rnd.random() < sm.sigmoid(z) else 0)
    model = sm.fit("lead_conversion", feats.LEAD_FIELDS, rows, labels)
    payload = json.loads(json.dumps(sm.to_payload(model)))
    published = sm.from_payload(payload, feats.LEAD_FIELDS)
    for row in rows[:50] + [{"source": "unknown-source", "follow_ups": 0}]:
        score, reasons = lead_scoring.apply(lead_scoring.check_payload(
            {**payload, "version": 1}), row)
        told = sm.explain(published, row)
        assert score == told["score"]
        assert reasons == told["reasons"]


def test_a_payload_without_its_numbers_is_refused_by_the_leads_service():
    from crmkit.errors import ValidationFailed
    from services.leads import scoring as lead_scoring

    for broken in ({"version": 1, "features": []},
                   {"version": 0, "intercept": 0, "features": []},
                   {"version": 1, "intercept": 0, "features": [{"field": "x", "kind": "odd",
                                                                 "coef": 1, "mean": 0}]}):
        with pytest.raises(ValidationFailed):
            lead_scoring.check_payload(broken)
