"""An end-to-end sale through the gateway: opportunity → quote → contract (submitted by a rep,
approved by the rep's team manager, signed) → receivable plan → payments until fully paid,
then an invoice and the customer's billing details (issue 5)."""
from __future__ import annotations

from datetime import UTC, datetime

from tests.support import eventually


def ok(answer, status=(200, 201)):
    assert answer.status_code in ((status,) if isinstance(status, int) else status), answer.text
    return answer.json()


def error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()["error"]
    assert body["code"] == code, body
    return body


def test_a_sale_from_opportunity_to_fully_paid(cluster, admin, make_user):
    team = ok(admin.post("/teams", json={"name": "华北大客户部"}))
    manager_user, manager = make_user("manager", team["id"], prefix="salesmgr")
    ok(admin.patch(f"/teams/{team['id']}", json={"manager_id": manager_user["id"]}))
    rep_user, rep = make_user("sales", team["id"], prefix="salesrep")
    _, outsider = make_user("sales", prefix="outsider")
    finance_user, finance = make_user("finance", prefix="finance")

    # the catalogue (managers) and a customer of the rep
    crm = ok(manager.post("/products", json={"sku": "E2E-CRM-ENT", "name": "CRM 企业版",
                                            "unit": "套", "list_price": "36000.00",
                                            "category": "软件"}))
    svc = ok(manager.post("/products", json={"sku": "E2E-SVC", "name": "实施服务",
                                            "unit": "人天", "list_price": "1800.00"}))
    error(rep.post("/products", json={"sku": "X", "name": "x", "unit": "套",
                                      "list_price": "1.00"}), 403, "forbidden")
    error(manager.post("/products", json={"sku": "E2E-SVC", "name": "x", "unit": "套",
                                          "list_price": "1.00"}), 409, "sku_taken")
    assert admin.post("/products", json={"sku": "NEG", "name": "x", "unit": "套",
                                         "list_price": "-5.00"}).status_code == 422
    customer = ok(rep.post("/customers", json={"name": "北京华夏重工集团有限公司",
                                               "phone": "010-6500-1234"}))

    # the rep's own pipeline (自定义流程) and an opportunity in it
    pipeline = ok(rep.post("/pipelines", json={"name": "E2E 项目制", "stages": [
        {"name": "立项", "probability": 20}, {"name": "报价", "probability": 60},
        {"name": "成交", "probability": 100}, {"name": "失败", "probability": 0}]}))
    opp = ok(rep.post("/opportunities", json={
        "customer_id": customer["id"], "name": "华夏重工 CRM 项目", "amount": "90000.00",
        "pipeline_id": pipeline["id"]}))
    assert opp["stage"] == "立项"
    error(rep.post(f"/opportunities/{opp['id']}/stage", json={"stage": "需求确认"}), 422,
          "unknown_stage")
    ok(rep.post(f"/opportunities/{opp['id']}/stage", json={"stage": "报价"}))

    # a quote: list prices by default, a 10% discount on the licences, 13% VAT
    body = {"customer_id": customer["id"], "opportunity_id": opp["id"], "tax_rate": "0.13",
            "valid_until": "2099-12-31",
            "lines": [{"product_id": crm["id"], "quantity": "2", "discount": "0.1"},
                      {"product_id": svc["id"], "quantity": "5"}]}
    assert rep.post("/quotes", json={**body, "total": "1.00"}).status_code == 422
    error(rep.post("/quotes", json={**body, "lines": [{"product_id": "0" * 32,
                                                       "quantity": "1"}]}),
          422, "unknown_product")
    quote = ok(rep.post("/quotes", json=body))
    assert (quote["subtotal"], quote["discount"], quote["tax"], quote["total"]) == (
        "81000.00", "7200.00", "9594.00", "83394.00")
    assert outsider.get(f"/quotes/{quote['id']}").status_code == 404
    error(rep.post(f"/quotes/{quote['id']}/accept"), 409, "invalid_quote_status")
    assert ok(rep.post(f"/quotes/{quote['id']}/send"))["status"] == "sent"
    assert ok(rep.post(f"/quotes/{quote['id']}/accept"))["status"] == "accepted"

    # the contract from the quote; approval by the rep's manager; signing
    contract = ok(rep.post("/contracts", json={"quote_id": quote["id"]}))
    assert contract["number"].startswith("HT-") and contract["total"] == "83394.00"
    assert [line["sku"] for line in contract["lines"]] == ["E2E-CRM-ENT", "E2E-SVC"]
    error(rep.post(f"/contracts/{contract['id']}/sign"), 409, "contract_not_approved")
    submitted = ok(rep.post(f"/contracts/{contract['id']}/submit"))
    assert submitted["status"] == "pending_approval"
    assert [s["approver_id"] for s in submitted["approval_steps"]] == [manager_user["id"]]
    error(rep.post(f"/contracts/{contract['id']}/approve"), 409, "own_contract")
    error(finance.post(f"/contracts/{contract['id']}/approve"), 403, "not_your_approval")
    inbox = eventually(lambda: [n for n in manager.get("/notifications").json()["items"]
                                   if n["type"] == "contract.approval_requested"], timeout=10)
    assert inbox[0]["title"] == "合同待审批" and contract["number"] in inbox[0]["body"]
    approved = ok(manager.post(f"/contracts/{contract['id']}/approve",
                               json={"comment": "同意，按期回款"}))
    assert approved["status"] == "approved"
    assert approved["approval_steps"][0]["decision"] == "approved"
    signed = ok(rep.post(f"/contracts/{contract['id']}/sign"))
    assert signed["status"] == "signed" and signed["signed_at"].endswith("+00:00")

    # the receivable plan must add up to the total; then payments until fully paid
    plan_url = f"/contracts/{contract['id']}/receivable-plans"
    error(rep.post(plan_url, json={"instalments": [
        {"due_date": "2099-01-31", "amount": "50000.00"}]}), 422, "invalid_receivable_plan")
    plan = ok(rep.post(plan_url, json={"instalments": [
        {"due_date": "2099-01-31", "amount": "50000.00"},
        {"due_date": "2099-06-30", "amount": "33394.00"}]}))
    first, second = plan["instalments"]
    now = datetime.now(UTC).isoformat()

    def pay(instalment, amount):
        return finance.post("/payments", json={"instalment_id": instalment["id"],
                                               "amount": amount, "paid_at": now,
                                               "method": "bank_transfer"})

    ok(pay(first, "20000.00"))
    error(pay(first, "30000.01"), 409, "overpayment")
    assert pay(first, "-1.00").status_code == 422
    assert ok(rep.get(plan_url))["instalments"][0]["status"] == "partial"
    ok(pay(first, "30000.00"))
    ok(pay(second, "33394.00"))
    final = ok(rep.get(plan_url))
    assert [i["status"] for i in final["instalments"]] == ["paid", "paid"]
    assert (final["paid"], final["outstanding"]) == ("83394.00", "0.00")
    assert len(ok(manager.get("/payments", params={"customer_id": customer["id"]}))["items"]) == 3
    ageing = ok(manager.get("/receivables/ageing", params={"team_id": team["id"]}))
    assert ageing["total"] == "0.00"
    assert outsider.get(plan_url).status_code == 404

    # finance: invoices up to the total, the customer's billing details
    ok(finance.post("/invoices", json={"contract_id": contract["id"], "number": "E2E-FP-1",
                                       "amount": "83394.00", "tax": "9594.00",
                                       "issued_on": "2026-01-15"}))
    error(finance.post("/invoices", json={"contract_id": contract["id"], "number": "E2E-FP-2",
                                          "amount": "0.01", "tax": "0.00",
                                          "issued_on": "2026-01-15"}),
          409, "invoice_exceeds_contract")
    assert rep.post("/invoices", json={"contract_id": contract["id"], "number": "E2E-FP-3",
                                       "amount": "1.00", "tax": "0.00",
                                       "issued_on": "2026-01-15"}).status_code == 403
    billing = {"title": "北京华夏重工集团有限公司", "tax_id": "91110000MA0E2E0001",
               "bank": "中国工商银行北京分行", "account": "0200 0000 0000 0001",
               "address": "北京市朝阳区建国路 1 号"}
    assert rep.put(f"/customers/{customer['id']}/billing", json=billing).status_code == 403
    ok(finance.put(f"/customers/{customer['id']}/billing", json=billing))
    assert ok(rep.get(f"/customers/{customer['id']}/billing"))["tax_id"] == billing["tax_id"]
    assert outsider.get(f"/customers/{customer['id']}/billing").status_code == 404
    assert ok(rep.post(f"/contracts/{contract['id']}/complete"))["status"] == "completed"
    for path in ("/quotes", "/contracts", "/invoices", "/receivables"):
        page = ok(rep.get(path, params={"customer_id": customer["id"]}))
        assert page["items"], path
        assert ok(outsider.get(path, params={"customer_id": customer["id"]}))["items"] == []
    assert finance_user["role"] == "finance"


def test_a_large_contract_needs_the_managers_manager(cluster, admin, make_user):
    """Above SALES_SECOND_APPROVAL_AMOUNT (100000.00): the rep's manager, then the parent
    team's manager; each is notified when their step comes; a manager's own contract goes up."""
    region = ok(admin.post("/teams", json={"name": "华北大区"}))
    director_user, director = make_user("manager", region["id"], prefix="director")
    ok(admin.patch(f"/teams/{region['id']}", json={"manager_id": director_user["id"]}))
    team = ok(admin.post("/teams", json={"name": "天津销售组", "parent_id": region["id"]}))
    manager_user, manager = make_user("manager", team["id"], prefix="tjmgr")
    ok(admin.patch(f"/teams/{team['id']}", json={"manager_id": manager_user["id"]}))
    _, rep = make_user("sales", team["id"], prefix="tjrep")
    product = ok(admin.post("/products", json={"sku": "E2E-DC-RACK", "name": "数据中心机柜",
                                               "unit": "台", "list_price": "60000.00"}))
    customer = ok(rep.post("/customers", json={"name": "天津港务物流有限公司"}))

    contract = ok(rep.post("/contracts", json={
        "customer_id": customer["id"], "title": "机柜采购",
        "lines": [{"product_id": product["id"], "quantity": "2"}]}))
    assert contract["total"] == "120000.00"
    steps = ok(rep.post(f"/contracts/{contract['id']}/submit"))["approval_steps"]
    assert [(s["level"], s["approver_id"]) for s in steps] == [(1, manager_user["id"]),
                                                               (2, director_user["id"])]
    error(director.post(f"/contracts/{contract['id']}/approve"), 403, "not_your_approval")
    ok(manager.post(f"/contracts/{contract['id']}/approve", json={"comment": "同意"}))
    notes = eventually(lambda: [n for n in director.get("/notifications").json()["items"]
                                   if n["type"] == "contract.approval_requested"], timeout=10)
    assert contract["number"] in notes[0]["body"]
    error(director.post(f"/contracts/{contract['id']}/reject"), 422, "validation_error")
    rejected = ok(director.post(f"/contracts/{contract['id']}/reject",
                                json={"comment": "价格偏低，请重新报价"}))
    assert rejected["status"] == "rejected"
    assert [s["decision"] for s in rejected["approval_steps"]] == ["approved", "rejected"]
    error(rep.post(f"/contracts/{contract['id']}/sign"), 409, "contract_not_approved")

    # the manager's own contract: approved by the director (and finance or nobody above)
    own = ok(manager.post("/contracts", json={
        "customer_id": customer["id"], "lines": [{"product_id": product["id"],
                                                  "quantity": "1"}]}))
    steps = ok(manager.post(f"/contracts/{own['id']}/submit"))["approval_steps"]
    assert [s["approver_id"] for s in steps] == [director_user["id"]]
    error(manager.post(f"/contracts/{own['id']}/approve"), 409, "own_contract")
    assert ok(director.post(f"/contracts/{own['id']}/approve"))["status"] == "approved"
