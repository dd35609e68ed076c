"""Explainable scoring and recommendations through the gateway on the full cluster (issue 12).

The history the models learn from is older than anything a test can create through the API,
so it is played as the producers' events, back-dated, on the real broker (as the outbox relays
would have published them): 40 leads over the last 300 days (referral leads followed up and
converted, cold calls never) and two years of contracts of customers created through the
gateway (two buying every 60 days, three once long ago). Then an administrator refits, the
leads service rescores, and the answers are checked through HTTP only."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from crmkit.ids import new_id
from tests.support import eventually, publish_event

NOW = datetime.now(UTC)
D = timedelta(days=1)


def envelope(source, etype, data, at):
    return {"id": new_id(), "type": etype, "version": 1, "occurred_at": at.isoformat(),
            "source": source, "actor_id": None, "correlation_id": new_id(), "data": data}


def lead_history(tag: str) -> list[dict]:
    out = []
    for i in range(40):
        at = NOW - 300 * D + i * 7 * D
        good = i % 2 == 0
        data = {"lead_id": f"h{tag}{i:02d}", "owner_id": None, "name": f"历史线索{i}",
                "source": "referral" if good else "cold_call", "pool": "default",
                "status": "new"}
        out.append(envelope("leads", "lead.created", data, at))
        if good:
            out.append(envelope("leads", "lead.followed_up", data, at + 2 * D))
            if at + 10 * D < NOW:
                out.append(envelope("leads", "lead.converted", data, at + 10 * D))
    return out


def contract(customer: dict, owner: str, at: datetime, products: list[str], n: int) -> dict:
    cid = customer["id"]
    lines = [{"line_id": f"{cid}-{n}-{p}", "product_id": p, "sku": p, "name": f"产品{p[-2:]}",
              "quantity": "1", "unit_price": "500.00", "amount": "500.00"} for p in products]
    return envelope("sales", "contract.signed", {
        "contract_id": f"{cid}-{n}", "number": f"HT-E2E-{n}", "customer_id": cid,
        "owner_id": owner, "team_id": None, "status": "signed",
        "total": f"{500 * len(products)}.00", "currency": "CNY", "signed_at": at.isoformat(),
        "lines": lines}, at)


def seen_everything(admin, ids: set[str]) -> bool:
    found, cursor = set(), None
    for _ in range(20):
        page = admin.get("/analytics/activity", params={"limit": 200, **(
            {"cursor": cursor} if cursor else {})}).json()
        found |= {item["id"] for item in page["items"]} & ids
        cursor = page.get("next_cursor")
        if found == ids or not cursor:
            break
    return found == ids


def test_models_fit_leads_rescore_and_customers_get_insights(cluster, admin, make_user):
    tag = uuid.uuid4().hex[:6]
    p1, p2, p3 = (f"E2E-{tag}-P{i}" for i in (1, 2, 3))
    team = admin.post("/teams", json={"name": f"评分测试部{tag}"}).json()
    me, rep = make_user("sales", team["id"], prefix="screp")
    _, stranger = make_user("sales", prefix="scother")

    customers = []
    for i in range(5):
        answer = rep.post("/customers", json={"name": f"评分客户{tag}{i}", "level": "A"})
        assert answer.status_code == 201, answer.text
        customers.append(answer.json())
    history = lead_history(tag)
    # frequent buyers (every 60 days for two years) hold P1+P2; the others bought once,
    # 700 days ago: P1+P2, P1+P3 and P1 alone
    for c in customers[:2]:
        at, n = NOW - 720 * D, 0
        while at < NOW - D:
            history.append(contract(c, me["id"], at, [p1, p2], n))
            at, n = at + 60 * D, n + 1
    for c, products in zip(customers[2:], ([p1, p2], [p1, p3], [p1]), strict=True):
        history.append(contract(c, me["id"], NOW - 700 * D, products, 0))
    for body in history:
        publish_event(cluster.amqp_uri, body)
    eventually(lambda: seen_everything(admin, {e["id"] for e in history}), timeout=60,
               interval=0.5)

    assert rep.post("/analytics/scoring/refit").status_code == 403
    fitted = admin.post("/analytics/scoring/refit")
    assert fitted.status_code == 200, fitted.text
    result = fitted.json()
    assert result["lead_conversion"]["fitted"] is True, result
    assert result["customer_repurchase"]["fitted"] is True, result
    version = result["lead_conversion"]["version"]
    models = admin.get("/analytics/scoring/models").json()
    assert models["lead_conversion"]["version"] == version
    coef = {f["name"]: f["coef"] for f in models["lead_conversion"]["model"]["features"]}
    assert coef["source=referral"] > coef["source=cold_call"]

    # the leads service applies the published model to open leads, old and new
    hot = rep.post("/leads", json={"name": f"热线索{tag}", "source": "referral",
                                   "owner_id": me["id"]}).json()
    cold = rep.post("/leads", json={"name": f"冷线索{tag}", "source": "cold_call",
                                    "owner_id": me["id"]}).json()

    def scored():
        page = rep.get("/leads", params={"scope": "mine", "sort": "score"}).json()
        mine = [i for i in page["items"] if i["id"] in (hot["id"], cold["id"])]
        return mine if all(i["score_model_version"] == version for i in mine) else None

    ordered = eventually(scored, timeout=30, interval=0.5)
    assert [i["id"] for i in ordered] == [hot["id"], cold["id"]]
    assert ordered[0]["score"] > ordered[1]["score"]
    lead = rep.get(f"/leads/{hot['id']}").json()
    source = next(r for r in lead["score_reasons"] if r["feature"] == "source")
    assert source["direction"] == "up" and source["label_zh"].startswith("来源：")
    bad = rep.get("/leads", params={"sort": "luck"})
    assert bad.status_code == 422, bad.text

    # customers: repurchase score with reasons, recommendations with their reasons
    frequent = rep.get(f"/customers/{customers[0]['id']}/insights")
    assert frequent.status_code == 200, frequent.text
    rare = rep.get(f"/customers/{customers[4]['id']}/insights").json()
    assert frequent.json()["repurchase"]["score"] > rare["repurchase"]["score"]
    assert frequent.json()["repurchase"]["reasons"]
    # the P1-only customer: P2 is held by 3 of the 5 P1-holders (60 %); P3 by one (too few)
    assert [(r["product"], r["percent"]) for r in rare["recommendations"]] == [(p2, 60)]
    assert rare["recommendations"][0]["reason_zh"] == "购买了产品P1的客户中有60%也购买了"
    assert frequent.json()["recommendations"] == []      # P3: one co-buyer only
    assert stranger.get(f"/customers/{customers[0]['id']}/insights").status_code == 404
    view = rep.get(f"/customers/{customers[4]['id']}/overview").json()
    assert view["sections"]["insights"]["available"] is True
    assert view["sections"]["insights"]["data"]["recommendations"][0]["product"] == p2
