"""Explainable scoring across the broker (issue 12): analytics fits and publishes the lead
model; the leads service, in its own container, takes a published model, rescores its open
leads and sorts by score. Real RabbitMQ, real SQLite stores."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import entrypoint_hook

from crmkit.ids import new_id
from services.analytics.service import AnalyticsService
from services.leads.service import LeadsService
from tests.service.conftest import EventTap, principal, publish_event
from tests.support import eventually

NOW = datetime.now(UTC)


def call(container, method, user="rep1", role="sales", **kwargs):
    with entrypoint_hook(container, method, context_data=principal(user, role, None)) as hook:
        return hook(**kwargs)


def envelope(source, etype, data, at, version=1):
    return {"id": new_id(), "type": etype, "version": version, "occurred_at": at.isoformat(),
            "source": source, "actor_id": None, "correlation_id": new_id(), "data": data}


def model(version, referral=2.0, ad=-2.0, follow=0.8):
    """A hand-made published model: referral raises, ad lowers, follow-ups raise."""
    feats = [
        {"name": "source=referral", "field": "source", "kind": "category", "value": "referral",
         "value_zh": "转介绍", "value_en": "referral", "coef": referral, "mean": 0.3,
         "label_zh": "来源", "label_en": "Source"},
        {"name": "source=ad", "field": "source", "kind": "category", "value": "ad",
         "value_zh": "广告", "value_en": "advertising", "coef": ad, "mean": 0.3,
         "label_zh": "来源", "label_en": "Source"},
        {"name": "follow_ups", "field": "follow_ups", "kind": "numeric", "transform": "log1p",
         "center": 0.5, "scale": 0.5, "coef": follow, "mean": 0.0, "unit_zh": "次",
         "unit_en": "", "label_zh": "跟进次数", "label_en": "Follow-ups"},
    ]
    return {"model": "lead_conversion", "version": version, "fitted_at": NOW.isoformat(),
            "window_days": 30.0, "auc": 0.81, "samples": 100, "positives": 20,
            "test_samples": 20, "intercept": -1.0, "baseline": -1.0,
            "fields": [{"field": "source", "kind": "category", "label_zh": "来源",
                        "label_en": "Source"}], "features": feats}


@pytest.fixture
def leads(container_factory, service_config):
    container = container_factory(LeadsService, service_config("leads"))
    container.start()
    return container


def scores(container, **kwargs):
    page = call(container, "list_leads", role="admin", scope="all", **kwargs)
    return [(i["name"], i["score"], i["score_model_version"]) for i in page["items"]], page


def test_leads_rescore_on_a_published_model_and_sort_by_it(leads, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    made = {}
    for name, source in (("甲", "ad"), ("乙", "referral"), ("丙", "expo"), ("丁", "referral")):
        made[name] = call(leads, "create_lead", role="admin",
                          data={"name": name, "source": source, "owner_id": "rep1"})
    call(leads, "add_follow_up", role="admin", lead_id=made["丁"]["id"],
         data={"kind": "call", "content": "电话沟通"})
    assert made["甲"]["score"] is None        # no model yet: nothing to score with
    publish_event(uri, envelope("analytics", "scoring.lead_model_published", model(1), NOW))

    def all_scored():
        got, _ = scores(leads)
        return got if all(v == 1 for _, _, v in got) else None

    eventually(all_scored, timeout=15)
    ordered, _ = scores(leads, sort="score")
    assert [n for n, _, _ in ordered] == ["丁", "乙", "丙", "甲"]
    # paging by score: two pages, same order, nothing lost or repeated
    first = call(leads, "list_leads", role="admin", scope="all", sort="score", limit=2)
    second = call(leads, "list_leads", role="admin", scope="all", sort="score", limit=2,
                  cursor=first["next_cursor"])
    assert [i["name"] for i in first["items"] + second["items"]] == ["丁", "乙", "丙", "甲"]
    assert second["next_cursor"] is None
    lead = call(leads, "get_lead", role="admin", lead_id=made["丁"]["id"])
    reasons = {r["feature"]: r for r in lead["score_reasons"]}
    assert reasons["source"]["direction"] == "up"
    assert reasons["source"]["label_zh"] == "来源：转介绍"
    assert reasons["follow_ups"]["label_en"] == "Follow-ups: 1"

    # an older version arriving late, and a duplicate of v1, change nothing
    publish_event(uri, envelope("analytics", "scoring.lead_model_published",
                                model(0 + 1, referral=-5.0), NOW))
    # a newer model reverses the sources: every open lead is rescored with version 2
    publish_event(uri, envelope("analytics", "scoring.lead_model_published",
                                model(2, referral=-2.0, ad=2.0, follow=0.0), NOW))

    def rescored():
        got, _ = scores(leads, sort="score")
        return got if all(v == 2 for _, _, v in got) else None

    got = eventually(rescored, timeout=15)
    assert [n for n, _, _ in got][0] == "甲" and [n for n, _, _ in got][-1] in ("乙", "丁")
    # a lead created now is scored in its own transaction with the newest model
    new = call(leads, "create_lead", role="admin", data={"name": "戊", "source": "ad"})
    assert new["score_model_version"] == 2 and new["score"] == got[0][1]


def test_a_malformed_model_is_refused_and_nothing_changes(leads, rabbit_config):
    call(leads, "create_lead", role="admin", data={"name": "甲", "source": "ad"})
    with pytest.raises(Exception) as exc:
        call(leads, "list_leads", role="admin", scope="all", sort="nonsense")
    assert "sort" in str(exc.value)
    bad = model(1)
    del bad["intercept"]
    publish_event(rabbit_config["AMQP_URI"],
                  envelope("analytics", "scoring.lead_model_published", bad, NOW))
    good = model(3)
    publish_event(rabbit_config["AMQP_URI"],
                  envelope("analytics", "scoring.lead_model_published", good, NOW))
    got = eventually(lambda: [x for x in scores(leads)[0] if x[2] == 3], timeout=15)
    assert got[0][0] == "甲"


@pytest.fixture
def analytics(container_factory, service_config):
    container = container_factory(AnalyticsService, service_config("analytics"))
    container.start()
    return container


def test_analytics_refit_publishes_the_model_to_the_broker(analytics, rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    t0 = NOW - timedelta(days=200)
    sent = []
    for i in range(40):
        at = t0 + timedelta(days=4 * i)
        good = i % 2 == 0
        data = {"lead_id": f"L{i}", "owner_id": "rep1", "source": "referral" if good else "ad"}
        sent.append(envelope("leads", "lead.created", data, at))
        if good and at + timedelta(days=10) < NOW:
            sent.append(envelope("leads", "lead.converted", data, at + timedelta(days=10)))
    for body in sent:
        publish_event(uri, body)
    eventually(lambda: call(analytics, "activity", role="admin", limit=200)["items"]
               and len(call(analytics, "activity", role="admin", limit=200)["items"])
               >= len(sent), timeout=20)
    tap = EventTap(uri, "analytics", "scoring.#")
    try:
        with pytest.raises(Exception) as exc:
            call(analytics, "refit_scoring", role="sales")
        assert "forbidden" in str(exc.value)
        result = call(analytics, "refit_scoring", role="admin")
        assert result["lead_conversion"]["fitted"] is True
        event = tap.wait_for("scoring.lead_model_published", timeout=15)
        assert event["data"]["version"] == 1 and event["source"] == "analytics"
        coef = {f["name"]: f["coef"] for f in event["data"]["features"]}
        assert coef["source=referral"] > coef["source=ad"]
        assert call(analytics, "scoring_models", role="admin")["lead_conversion"][
            "version"] == 1
    finally:
        tap.close()
