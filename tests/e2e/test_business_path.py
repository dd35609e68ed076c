"""One complete business path through every service, through the gateway (issue 2)."""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import kombu

from tests.support import eventually, waited


async def claim_all(base: str, tokens: list[str], lead_id: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(tokens))
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=30, limits=limits) as c:
        return await asyncio.gather(*[
            c.post(f"/leads/{lead_id}/claim", headers={"Authorization": f"Bearer {t}"})
            for t in tokens])


def test_lead_to_won_opportunity_and_ticket(cluster, admin, make_user):
    team = admin.post("/teams", json={"name": "华东销售部"})
    assert team.status_code in (200, 201), team.text
    team_id = team.json()["id"]
    reps = [make_user("sales", team_id, prefix="rep") for _ in range(25)]
    rep, other = reps[0][1], reps[1][1]

    # 1. a lead lands in the public pool
    created = rep.post("/leads", json={"name": "张伟", "company": "上海星辰科技有限公司",
                                       "phone": "+86-138-0013-8000", "email": "zw@xc-tech.cn",
                                       "source": "expo", "title": "采购经理"})
    assert created.status_code in (200, 201), created.text
    lead = created.json()
    assert lead["owner_id"] is None and lead["status"] == "new"
    pool = rep.get("/leads", params={"scope": "pool"}).json()["items"]
    assert lead["id"] in [i["id"] for i in pool]

    # 2. 100 concurrent claims (25 reps × 4) of that lead: exactly one 200, 99 × 409
    tokens = [api.token for _, api in reps for _ in range(4)]
    answers = asyncio.run(claim_all(cluster.url, tokens, lead["id"]))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 99, statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
        "lead_already_claimed"}
    winner_token = tokens[statuses.index(200)]
    winner = next(api for _, api in reps if api.token == winner_token)
    winner_id = next(u["id"] for u, api in reps if api is winner)
    loser = rep if winner is not rep else other
    owned = winner.get(f"/leads/{lead['id']}").json()
    assert owned["owner_id"] == winner_id and owned["follow_up_deadline"]

    # 3. follow-up, then convert (with a correlation id we can follow through the logs)
    follow = winner.post(f"/leads/{lead['id']}/follow-ups",
                         json={"kind": "visit", "content": "上门拜访，确认采购需求"})
    assert follow.status_code in (200, 201), follow.text
    tap = _tap(cluster.amqp_uri, "leads", "lead.converted")
    converted = winner.post(f"/leads/{lead['id']}/convert", headers={"X-Request-ID": "corr-e2e-1"})
    assert converted.status_code == 200, converted.text
    assert converted.json()["status"] == "converted"

    # 4. customers creates the customer from lead.converted — once, even if delivered twice
    customers = eventually(lambda: winner.get("/customers", params={"scope": "mine"})
                           .json()["items"], timeout=5.0)
    assert len(customers) == 1
    customer = customers[0]
    assert customer["name"] == "上海星辰科技有限公司" and customer["owner_id"] == winner_id
    _redeliver(cluster.amqp_uri, tap)
    time.sleep(1.0)
    assert len(winner.get("/customers", params={"scope": "mine"}).json()["items"]) == 1
    linked = eventually(lambda: winner.get(f"/leads/{lead['id']}").json()["customer_id"],
                        timeout=5.0)
    assert linked == customer["id"]
    assert any(r.get("correlation_id") == "corr-e2e-1" for r in cluster.log_records("customers-0"))

    # 5. an opportunity on the default pipeline, moved through its stages to won
    pipelines = winner.get("/pipelines").json()["items"]
    default = next(p for p in pipelines if p["is_default"])
    stage_names = [s["name"] for s in default["stages"]]
    assert stage_names[:4] == ["初步接洽", "需求确认", "方案报价", "谈判审核"]
    opp = winner.post("/opportunities", json={"customer_id": customer["id"],
                                              "name": "星辰科技 ERP 集成项目",
                                              "amount": "128000.00",
                                              "expected_close_date": "2026-12-31"})
    assert opp.status_code in (200, 201), opp.text
    opp = opp.json()
    assert opp["stage"] == "初步接洽" and opp["status"] == "open" and opp["amount"] == "128000.00"
    for stage in ["需求确认", "方案报价", "谈判审核", "赢单"]:
        moved = winner.post(f"/opportunities/{opp['id']}/stage", json={"stage": stage})
        assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "won"
    bad = winner.post(f"/opportunities/{opp['id']}/stage", json={"stage": "需求确认"})
    assert bad.status_code == 409

    # 6. service desk opens a ticket for the customer
    ticket = winner.post("/tickets", json={"customer_id": customer["id"], "title": "接口对接报错",
                                           "description": "ERP 同步订单时报 500",
                                           "channel": "phone", "category": "fault",
                                           "priority": "high"})
    assert ticket.status_code in (200, 201), ticket.text
    ticket = ticket.json()

    # 7. analytics shows the lead, the customer, the stages and the ticket
    def funnel_ready():
        body = winner.get("/analytics/funnel").json()
        stages = {s["stage"]: s for s in body["stages"]}
        ok = (body["overall"]["leads"] >= 1 and body["overall"]["customers"] >= 1
              and body["overall"]["won"] >= 1 and stages.get("赢单", {}).get("count") == 1)
        return body if ok else None

    funnel, lag = waited(funnel_ready, timeout=5.0)
    print(f"funnel current {lag:.3f}s after the last write")
    assert {s["stage"]: s["count"] for s in funnel["stages"]}["初步接洽"] == 1

    def activity_has_ticket():
        items = winner.get("/analytics/activity").json()["items"]
        return items if any(i["type"] == "ticket.created" for i in items) else None

    items, lag = waited(activity_has_ticket, timeout=5.0)
    print(f"activity current {lag:.3f}s after the ticket")
    types = {i["type"] for i in items}
    assert {"lead.created", "lead.claimed", "lead.converted", "customer.created",
            "opportunity.created", "opportunity.won", "ticket.created"} <= types

    # 8. another sales rep sees none of it
    for path in (f"/leads/{lead['id']}", f"/customers/{customer['id']}",
                 f"/opportunities/{opp['id']}", f"/tickets/{ticket['id']}"):
        answer = loser.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"].endswith("not_found")
    assert loser.get("/customers", params={"scope": "all"}).json()["items"] == []
    loser_activity = loser.get("/analytics/activity").json()["items"]
    assert not any(i.get("owner_id") == winner_id for i in loser_activity)
    assert loser.get("/analytics/funnel").json()["overall"]["won"] == 0


def _tap(amqp_uri: str, source: str, event_type: str):
    conn = kombu.Connection(amqp_uri)
    exchange = kombu.Exchange(f"{source}.events", type="topic", durable=True)
    queue = kombu.Queue(f"e2e.tap.{event_type}", exchange, routing_key=event_type,
                        auto_delete=True)(conn.default_channel)
    queue.declare()
    return conn, queue


def _redeliver(amqp_uri: str, tap) -> None:
    """Take the event the relay published and publish the very same message again."""
    conn, queue = tap
    message = eventually(lambda: queue.get(no_ack=True), timeout=5.0)
    envelope = json.loads(message.body)
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as pub:
        pub.Producer().publish(message.body, exchange=f"{envelope['source']}.events",
                               routing_key=envelope["type"], content_type="application/json",
                               content_encoding="utf-8", headers=message.headers,
                               serializer=None)
    conn.release()
