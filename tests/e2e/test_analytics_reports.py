"""Analytics reports through the gateway on the full cluster: briefing, rankings, series,
forecast, customer value, 7P profile and churn risk (routes, scope, errors, freshness)."""
from __future__ import annotations

from tests.support import waited


def figure(api, metric: str, scope: str = "me", period: str = "day"):
    answer = api.get("/analytics/briefing", params={"period": period, "scope": scope})
    assert answer.status_code == 200, answer.text
    return next(f for f in answer.json()["figures"] if f["metric"] == metric)


def test_briefing_and_rankings_follow_writes(cluster, admin, make_user):
    team = admin.post("/teams", json={"name": "分析测试部"})
    assert team.status_code in (200, 201), team.text
    me, rep = make_user("sales", team.json()["id"], prefix="anrep")
    _, other = make_user("sales", team.json()["id"], prefix="anrep")
    before = figure(rep, "lead_claims")["value"]
    lead = rep.post("/leads", json={"name": "王芳", "company": "苏州远航贸易有限公司",
                                    "phone": "+86-139-0000-1111", "source": "website"})
    assert lead.status_code in (200, 201), lead.text
    claimed = rep.post(f"/leads/{lead.json()['id']}/claim")
    assert claimed.status_code == 200, claimed.text
    _, seconds = waited(lambda: figure(rep, "lead_claims")["value"] == before + 1)
    assert seconds < 3.0  # a write shows in the briefing within about a second (slack: CI load)
    week = rep.get("/analytics/briefing", params={"period": "week", "scope": "me"}).json()
    assert {"new_leads", "lead_claims", "follow_ups", "new_customers", "new_opportunities",
            "won_amount", "contract_amount", "payments", "overdue_receivables",
            "tickets_opened", "tickets_resolved"} <= {f["metric"] for f in week["figures"]}
    assert figure(other, "lead_claims")["value"] == 0  # not the other rep's claim
    company = figure(admin, "lead_claims", scope="company")
    assert company["value"] >= 1
    ranks = admin.get("/analytics/rankings", params={"metric": "new_customers",
                                                     "period": "month"})
    assert ranks.status_code == 200, ranks.text
    series = rep.get("/analytics/series", params={"metric": "lead_claims"}).json()
    assert len(series["points"]) == 30 and series["points"][-1]["count"] >= 1
    assert me["id"]


def test_reports_answer_and_reject_bad_input(admin, make_user):
    _, rep = make_user("sales", prefix="anrep")
    for path in ("/analytics/forecast", "/analytics/customer-value", "/analytics/churn-risk",
                 "/analytics/rankings?metric=payments&period=week"):
        answer = rep.get(path)
        assert answer.status_code == 200, (path, answer.text)
    forecast = admin.get("/analytics/forecast").json()
    assert set(forecast) >= {"months", "total_amount", "total_weighted"}
    value = admin.get("/analytics/customer-value").json()
    assert set(value) >= {"customers", "pareto", "pyramid", "items"}
    for path, params in (("/analytics/briefing", {"period": "year"}),
                         ("/analytics/briefing", {"scope": "galaxy"}),
                         ("/analytics/rankings", {"metric": "happiness"}),
                         ("/analytics/series", {"start": "2026-03-05", "end": "2026-03-01"}),
                         ("/analytics/churn-risk", {"multiple": "0.5"})):
        answer = rep.get(path, params=params)
        assert answer.status_code == 422, (path, params, answer.text)
    missing = rep.get("/analytics/customers/no-such-customer/profile")
    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["code"] == "not_found"
