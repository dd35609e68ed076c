"""Campaigns (市场活动) and their ROI through the gateway: a manager runs two campaigns, reps
create and import leads from them, one lead becomes a customer with a won and a lost
opportunity and a signed contract; the analytics report shows every figure. Validation
(nothing stored), permissions and the lead filter along the way (issues 7 and 12)."""
from __future__ import annotations

import uuid

from tests.support import eventually


def ok(answer, status=(200, 201)):
    assert answer.status_code in ((status,) if isinstance(status, int) else status), answer.text
    return answer.json()


def error(answer, status: int, code: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()["error"]
    if code:
        assert body["code"] == code, body
    return body


def test_campaign_roi_through_the_gateway(cluster, admin, make_user):
    tag = uuid.uuid4().hex[:6]
    team = ok(admin.post("/teams", json={"name": f"市场部{tag}"}))
    manager_user, manager = make_user("manager", team["id"], prefix="mktmgr")
    ok(admin.patch(f"/teams/{team['id']}", json={"manager_id": manager_user["id"]}))
    rep_user, rep = make_user("sales", team["id"], prefix="mktrep")
    _, finance = make_user("finance", prefix="mktfin")

    # 1. the manager runs two campaigns; bad input stores nothing
    expo_body = {"name": f"2026 上海工博会 {tag}", "channel": "expo", "budget": "20000.00",
                 "starts_on": "2026-09-15", "ends_on": "2026-09-19"}
    for bad in ({"ends_on": "2026-09-14"}, {"budget": "-1"}, {"budget": "1.001"},
                {"channel": "tv"}, {"name": ""}, {"owner_id": "no-such-user"}):
        assert manager.post("/campaigns", json={**expo_body, **bad}).status_code == 422, bad
    error(rep.post("/campaigns", json=expo_body), 403)
    expo = ok(manager.post("/campaigns", json=expo_body), 201)
    assert (expo["budget"], expo["owner_id"], expo["channel"]) == \
        ("20000.00", manager_user["id"], "expo")
    error(manager.post("/campaigns", json=expo_body), 409, "campaign_name_taken")
    wechat = ok(manager.post("/campaigns", json={
        "name": f"微信裂变 {tag}", "channel": "wechat", "budget": "1000.00",
        "starts_on": "2026-10-01", "ends_on": "2026-10-31", "owner_id": rep_user["id"]}), 201)
    listed = ok(rep.get("/campaigns", params={"channel": "wechat", "q": tag}))["items"]
    assert [c["id"] for c in listed] == [wechat["id"]]
    running = ok(rep.get("/campaigns", params={"active_on": "2026-09-19", "q": tag}))["items"]
    assert [c["id"] for c in running] == [expo["id"]]
    error(manager.patch(f"/campaigns/{expo['id']}", json={"starts_on": "2026-09-20"}), 422)
    error(manager.patch(f"/campaigns/{expo['id']}", json={"budget": None}), 422)
    error(rep.patch(f"/campaigns/{expo['id']}", json={"budget": "1.00"}), 403)
    assert ok(rep.get(f"/campaigns/{expo['id']}"))["budget"] == "20000.00"

    # 2. leads from the campaigns: on create, and by CSV import with the campaign's name
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    error(rep.post("/leads", json={"name": "无效活动", "campaign_id": "nope"}), 422,
          "unknown_campaign")
    first = ok(rep.post("/leads", json={"name": "张伟", "company": f"星辰科技{tag}",
                                        "phone": phone, "source": "expo",
                                        "campaign_id": expo["id"]}), 201)
    assert first["campaign_id"] == expo["id"]
    second = ok(rep.post("/leads", json={"name": "李娜", "email": f"ln{tag}@example.cn",
                                         "campaign_id": wechat["id"]}), 201)
    moved = ok(manager.patch(f"/leads/{second['id']}", json={"campaign_id": expo["id"]}))
    assert moved["campaign_id"] == expo["id"]
    csv_text = (f"姓名,邮箱,市场活动\n王芳,wf{tag}@example.cn,微信裂变 {tag}\n"
                f"赵强,zq{tag}@example.cn,没有这个活动\n")
    report = ok(rep.post("/leads/import", files={"file": ("leads.csv", csv_text.encode(),
                                                          "text/csv")}))
    assert (report["created"], report["rejected"]) == (1, 1)
    assert report["rows"][0]["reason"] == "unknown_campaign" and report["rows"][0]["row"] == 3
    by_expo = ok(manager.get("/leads", params={"campaign_id": expo["id"]}))["items"]
    assert sorted(i["id"] for i in by_expo) == sorted([first["id"], second["id"]])
    by_wechat = ok(manager.get("/leads", params={"campaign_id": wechat["id"]}))["items"]
    assert [i["name"] for i in by_wechat] == ["王芳"]

    # 3. the first lead converts; its customer wins one opportunity and loses another
    ok(rep.post(f"/leads/{first['id']}/claim"))
    ok(rep.post(f"/leads/{first['id']}/convert"))
    customer_id = eventually(lambda: rep.get(f"/leads/{first['id']}").json()["customer_id"],
                             timeout=10)
    won = ok(rep.post("/opportunities", json={"customer_id": customer_id, "name": "工博会订单",
                                              "amount": "50000.00"}), 201)
    for stage in ("需求确认", "方案报价", "谈判审核", "赢单"):
        ok(rep.post(f"/opportunities/{won['id']}/stage", json={"stage": stage}))
    lost = ok(rep.post("/opportunities", json={"customer_id": customer_id, "name": "二期",
                                               "amount": "8000.00"}), 201)
    ok(rep.post(f"/opportunities/{lost['id']}/stage", json={"stage": "输单",
                                                                "lost_reason": "预算被砍"}))

    # 4. a signed contract of 30000.00 (approved by the rep's manager)
    product = ok(manager.post("/products", json={"sku": f"MKT-{tag}", "name": "智能产线方案",
                                                 "unit": "套", "list_price": "30000.00"}), 201)
    contract = ok(rep.post("/contracts", json={
        "customer_id": customer_id, "opportunity_id": won["id"],
        "lines": [{"product_id": product["id"], "quantity": "1"}]}), 201)
    assert contract["total"] == "30000.00"
    ok(rep.post(f"/contracts/{contract['id']}/submit"))
    ok(manager.post(f"/contracts/{contract['id']}/approve", json={"comment": "同意"}))
    assert ok(rep.post(f"/contracts/{contract['id']}/sign"))["status"] == "signed"

    # 5. the report: every figure (leads 2, customer 1, opportunities 2 — 1 won, 1 lost)
    expected = {"budget": "20000.00", "leads": 2, "customers": 1, "opportunities": 2,
                "won_opportunities": 1, "won_opportunity_amount": "50000.00",
                "won_customers": 1, "revenue": "30000.00", "refunds": "0.00",
                "won_amount": "30000.00", "cost_per_lead": "10000.00",
                "cost_per_won_customer": "20000.00", "lead_conversion_rate": "0.5000",
                "roi": "0.5000"}

    def expo_figures():
        answer = manager.get(f"/analytics/campaigns/{expo['id']}")
        if answer.status_code != 200:
            return None
        got = {k: answer.json()[k] for k in expected}
        return got if got == expected else None

    assert eventually(expo_figures, timeout=15) == expected
    whole = ok(admin.get("/analytics/campaigns", params={"start": "2026-09-01",
                                                           "end": "2026-10-31"}))
    mine = {i["campaign_id"]: i for i in whole["items"]}
    assert mine[wechat["id"]]["leads"] == 1 and mine[wechat["id"]]["customers"] == 0
    assert (mine[wechat["id"]]["roi"], mine[wechat["id"]]["cost_per_lead"]) == \
        ("-1.0000", "1000.00")
    assert mine[wechat["id"]]["cost_per_won_customer"] is None
    expo_only = ok(manager.get("/analytics/campaigns", params={"channel": "expo",
                                                               "start": "2026-09-19",
                                                               "end": "2026-09-19"}))
    assert expo["id"] in [i["campaign_id"] for i in expo_only["items"]]
    assert wechat["id"] not in [i["campaign_id"] for i in expo_only["items"]]

    # 6. a budget change reaches the report; reps and finance may not read ROI
    ok(manager.patch(f"/campaigns/{expo['id']}", json={"budget": "40000.00"}))
    roi = eventually(lambda: (lambda a: a if a["roi"] == "-0.2500" else None)(
        manager.get(f"/analytics/campaigns/{expo['id']}").json()), timeout=15)
    assert (roi["budget"], roi["cost_per_lead"]) == ("40000.00", "20000.00")
    error(rep.get("/analytics/campaigns"), 403)
    error(finance.get(f"/analytics/campaigns/{expo['id']}"), 403)
    error(manager.get("/analytics/campaigns", params={"start": "2026-10-01",
                                                       "end": "2026-09-01"}), 422)
    error(manager.get("/analytics/campaigns/no-such-campaign"), 404, "campaign_not_found")
