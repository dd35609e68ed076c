"""The service desk end to end through the gateway (issue 6): a ticket's whole life with
comments, assignment and a satisfaction rating; a return against a signed contract (the
``contract.signed`` event is published to the cluster's broker, as the sales service would);
a work order completed with its workload and shown in the engineer's calendar."""
from __future__ import annotations

import uuid

from crmkit.ids import new_id
from tests.support import eventually, publish_event


def ok(answer, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()


def test_service_desk_flow(cluster, admin, make_user):
    team = ok(admin.post("/teams", json={"name": f"售后服务部-{uuid.uuid4().hex[:6]}"}), 201)
    boss_user, boss = make_user("manager", team["id"], prefix="sdboss")
    ok(admin.patch(f"/teams/{team['id']}", json={"manager_id": boss_user["id"]}))
    rep_user, rep = make_user("sales", team["id"], prefix="sdrep")
    svc_user, svc = make_user("service", team["id"], prefix="sdsvc")
    customer = ok(rep.post("/customers", json={
        "name": f"苏州精工机械有限公司-{uuid.uuid4().hex[:6]}"}), 201)

    # 1. a ticket: opened by the rep, assigned automatically to some active service user
    ticket = ok(rep.post("/tickets", json={
        "customer_id": customer["id"], "title": "设备运行异响", "description": "3 号产线主轴异响",
        "channel": "phone", "category": "fault", "priority": "high", "auto_assign": True}), 201)
    assert ticket["status"] == "open" and ticket["number"].startswith("TK-")
    auto = ticket["assignee_id"]
    assert auto and ok(admin.get(f"/users/{auto}"))["role"] == "service"
    assert rep.post("/tickets", json={"customer_id": customer["id"], "title": "x",
                                      "channel": "fax", "category": "fault"}).status_code == 422
    # the manager hands it to the team's engineer; the engineer is notified
    assigned = ok(boss.post(f"/tickets/{ticket['id']}/assign",
                            json={"assignee_id": svc_user["id"]}))
    assert assigned["assignee_id"] == svc_user["id"]
    assert assigned["manager_id"] == boss_user["id"]
    assert rep.post(f"/tickets/{ticket['id']}/assign",
                    json={"assignee_id": svc_user["id"]}).status_code == 403
    inbox = eventually(lambda: [n for n in svc.get("/notifications").json()["items"]
                                if n["type"] == "ticket.assigned"])
    assert inbox[0]["title"] == "工单已分配给你"

    tid = ticket["id"]
    ok(svc.post(f"/tickets/{tid}/comments", json={"body": "疑似轴承磨损", "internal": True}), 201)
    assert svc.post(f"/tickets/{tid}/resolve").status_code == 409  # not started
    started = ok(svc.post(f"/tickets/{tid}/start"))
    assert started["status"] == "in_progress" and started["first_responded_at"]
    ok(svc.post(f"/tickets/{tid}/comments", json={"body": "您好，工程师明天上门检查"}), 201)
    assert ok(svc.post(f"/tickets/{tid}/wait"))["status"] == "waiting"
    assert ok(svc.post(f"/tickets/{tid}/resume"))["status"] == "in_progress"
    assert ok(svc.post(f"/tickets/{tid}/resolve"))["status"] == "resolved"
    assert rep.post(f"/tickets/{tid}/rate", json={"score": 5}).status_code == 409
    assert ok(svc.post(f"/tickets/{tid}/close"))["status"] == "closed"
    assert rep.post(f"/tickets/{tid}/rate", json={"score": 9}).status_code == 422
    rated = ok(rep.post(f"/tickets/{tid}/rate", json={"score": 5, "comment": "服务很专业"}))
    assert rated["satisfaction_score"] == 5
    comments = ok(boss.get(f"/tickets/{tid}/comments"))["items"]
    assert [c["internal"] for c in comments] == [True, False]
    assert [t["id"] for t in ok(boss.get("/tickets", params={
        "customer_id": customer["id"], "status": "closed"}))["items"]] == [tid]
    assert ok(svc.get("/tickets/sla/policies"))["items"]
    assert svc.put("/tickets/sla/calendar", json={"days": [
        {"date": "2030-10-01", "kind": "holiday"}]}).status_code == 403
    assert ok(admin.put("/tickets/sla/calendar", json={"days": [
        {"date": "2030-10-01", "kind": "holiday", "name": "国庆节"}]}))["items"][0]["kind"] == \
        "holiday"

    # 2. a return against a signed contract
    contract_id, line_id = new_id(), new_id()
    lines = [{"line_id": line_id, "quantity": 2, "reason": "外壳破损"}]
    refused = rep.post("/returns", json={"contract_id": contract_id,
                                         "customer_id": customer["id"], "lines": lines})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_contract"
    publish_event(cluster.amqp_uri, {
        "id": new_id(), "type": "contract.signed", "version": 1,
        "occurred_at": "2026-03-01T02:00:00+00:00", "source": "sales",
        "actor_id": rep_user["id"], "correlation_id": "corr-sd-e2e", "data": {
            "contract_id": contract_id, "number": "HT-2026-009001",
            "customer_id": customer["id"], "owner_id": rep_user["id"], "team_id": team["id"],
            "total": "36000.00", "currency": "CNY", "signed_at": "2026-03-01T02:00:00+00:00",
            "lines": [{"line_id": line_id, "product_id": new_id(), "sku": "CNC-5",
                       "name": "数控主轴", "quantity": "3", "unit_price": "12000.00",
                       "amount": "36000.00"}]}})
    created = eventually(lambda: rep.post("/returns", json={
        "contract_id": contract_id, "customer_id": customer["id"], "lines": lines}))
    ret = ok(created, 201)
    assert ret["status"] == "requested" and ret["total_value"] == "24000.00"
    too_many = rep.post("/returns", json={"contract_id": contract_id,
                                          "customer_id": customer["id"],
                                          "lines": [{"line_id": line_id, "quantity": 4}]})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "quantity_exceeds_remaining"
    assert rep.post(f"/returns/{ret['id']}/approve").status_code == 403
    ok(boss.post(f"/returns/{ret['id']}/approve"))
    ok(boss.post(f"/returns/{ret['id']}/receive"))
    over = boss.post(f"/returns/{ret['id']}/refund", json={"amount": "24000.01"})
    assert over.status_code == 422
    refunded = ok(boss.post(f"/returns/{ret['id']}/refund", json={"amount": "23500.00"}))
    assert (refunded["status"], refunded["refund_amount"]) == ("refunded", "23500.00")
    assert ok(boss.post(f"/returns/{ret['id']}/close"))["status"] == "closed"
    assert boss.post(f"/returns/{ret['id']}/close").status_code == 409
    left = rep.post("/returns", json={"contract_id": contract_id, "customer_id": customer["id"],
                                      "lines": [{"line_id": line_id, "quantity": 2}]})
    assert left.status_code == 422  # 3 sold, 2 already returned
    assert [r["id"] for r in ok(rep.get("/returns", params={
        "customer_id": customer["id"]}))["items"]] == [ret["id"]]

    # 3. a work order for the engineer, completed with its workload
    order = ok(boss.post("/work-orders", json={
        "customer_id": customer["id"], "contract_id": contract_id, "kind": "repair",
        "scheduled_at": "2030-03-12T09:30:00+08:00", "assignee_id": svc_user["id"],
        "address": "苏州工业园区星湖街 328 号", "notes": "更换主轴轴承"}), 201)
    assert order["status"] == "scheduled" and order["business_day"] == "2030-03-12"
    assert boss.post("/work-orders", json={
        "customer_id": customer["id"], "kind": "repair", "scheduled_at": "2030-03-12T09:30:00",
        "assignee_id": svc_user["id"]}).status_code == 422
    ok(svc.post(f"/work-orders/{order['id']}/start"))
    assert svc.post(f"/work-orders/{order['id']}/complete",
                    json={"workload_hours": "0", "result": "完成"}).status_code == 422
    done = ok(svc.post(f"/work-orders/{order['id']}/complete",
                       json={"workload_hours": "3.5", "result": "已更换轴承，试运行正常"}))
    assert (done["status"], done["workload_hours"]) == ("completed", "3.50")
    cal = ok(svc.get("/work-orders/calendar", params={"start": "2030-03-09",
                                                       "end": "2030-03-15"}))
    assert [(d["date"], [w["id"] for w in d["items"]]) for d in cal["days"]] == [
        ("2030-03-12", [order["id"]])]
    assert ok(rep.get("/work-orders/calendar", params={"start": "2030-03-09",
                                                        "end": "2030-03-15"}))["days"] == []
    listed = ok(boss.get("/work-orders", params={"assignee_id": svc_user["id"],
                                                 "start": "2030-03-12T00:00:00+08:00",
                                                 "end": "2030-03-13T00:00:00+08:00"}))
    assert [w["id"] for w in listed["items"]] == [order["id"]]
