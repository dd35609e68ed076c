"""Route contract: each route validates, checks the role, then makes the RPC call of docs/rpc.md.

The five services are replaced by ``RecordingRpc`` (see conftest); the gateway, its store
and the HTTP stack are real.
"""
from __future__ import annotations

import pytest

from crmkit.errors import Conflict, NotFound, ServiceTimeout, ServiceUnavailable

LEAD = {"name": "李娜", "company": "杭州云栖科技有限公司", "phone": "138 0013 8000",
        "email": "li.na@yunqi.example.cn", "source": "expo", "tags": ["华东"]}


@pytest.fixture(scope="module")
def org(http, admin, make_team, make_user):
    """A manager over two teams' reps, a rep elsewhere, a service user and an inactive user."""
    east = make_team("华东销售部")
    west = make_team("华西销售部")
    manager = make_user("manager", team_id=east["id"])
    rep = make_user("sales", team_id=east["id"])
    outsider = make_user("sales", team_id=west["id"])
    service = make_user("service")
    gone = make_user("sales", team_id=east["id"])
    http.patch(f"/api/v1/users/{gone.id}", headers=admin, json={"active": False})
    return {"manager": manager, "rep": rep, "outsider": outsider, "service": service,
            "gone": gone, "admin": admin}


def only_call(services, service, method):
    calls = services.calls_to(service, method)
    assert len(calls) == 1, services.calls
    return calls[0]


def test_create_lead_sends_data_and_principal(http, org, services):
    rep = org["rep"]
    answer = http.post("/api/v1/leads", headers=rep.headers, json=LEAD)
    assert answer.status_code == 201, answer.text
    call = only_call(services, "leads", "create_lead")
    assert call.principal["user_id"] == rep.id and call.principal["data_scope"] == "own"
    assert call.principal["visible_user_ids"] == [rep.id]
    assert call.kwargs["data"] == {**LEAD, "title": None, "region": None, "industry": None,
                                   "notes": None, "pool": "default", "owner_id": None}
    assert answer.json()["name"] == "李娜"


def test_lead_validation_happens_before_any_call(http, org, services):
    rep = org["rep"]
    bad = http.post("/api/v1/leads", headers=rep.headers,
                    json={"name": "", "email": "not-mail", "source": "tv", "status": "new"})
    assert bad.status_code == 422
    locs = {tuple(d["loc"]) for d in bad.json()["error"]["details"]}
    assert locs == {("body", "name"), ("body", "email"), ("body", "source"), ("body", "status")}
    assert http.post("/api/v1/leads", headers=rep.headers, content=b"{not json",
                     ).status_code == 422
    assert services.calls == []


def test_lead_owner_on_create(http, org, services):
    rep, manager = org["rep"], org["manager"]
    assert http.post("/api/v1/leads", headers=rep.headers,
                     json={**LEAD, "owner_id": rep.id}).status_code == 201
    other = http.post("/api/v1/leads", headers=rep.headers,
                      json={**LEAD, "owner_id": manager.id})
    assert other.status_code == 403
    inactive = http.post("/api/v1/leads", headers=manager.headers,
                         json={**LEAD, "owner_id": org["gone"].id})
    assert inactive.status_code == 422
    assert http.post("/api/v1/leads", headers=manager.headers,
                     json={**LEAD, "owner_id": rep.id}).status_code == 201
    assert len(services.calls_to("leads", "create_lead")) == 2


def test_patch_lead_cannot_touch_server_fields(http, org, services):
    rep = org["rep"]
    for field, value in (("owner_id", rep.id), ("status", "converted"), ("customer_id", "c1"),
                         ("follow_up_deadline", "2030-01-01T00:00:00Z")):
        answer = http.patch("/api/v1/leads/L1", headers=rep.headers, json={field: value})
        assert answer.status_code == 422, field
        assert answer.json()["error"]["details"][0]["type"] == "extra_forbidden"
    assert http.patch("/api/v1/leads/L1", headers=rep.headers,
                      json={"name": None}).status_code == 422
    assert services.calls == []
    answer = http.patch("/api/v1/leads/L1", headers=rep.headers, json={"title": "采购总监"})
    assert answer.status_code == 200
    call = only_call(services, "leads", "update_lead")
    assert call.kwargs == {"lead_id": "L1", "data": {"title": "采购总监"}}


def test_list_leads_passes_every_filter(http, org, services):
    rep = org["rep"]
    services.answer("leads", "list_leads", {"items": [{"id": "L1", "name": "李娜"}],
                                            "next_cursor": "abc"})
    answer = http.get("/api/v1/leads", headers=rep.headers, params={
        "scope": "pool", "status": "new", "source": "expo", "q": "云栖", "cursor": "abc",
        "limit": 20})
    assert answer.status_code == 200
    assert answer.json()["next_cursor"] == "abc" and answer.json()["items"][0]["id"] == "L1"
    assert only_call(services, "leads", "list_leads").kwargs == {
        "scope": "pool", "status": "new", "source": "expo", "owner_id": None, "q": "云栖",
        "cursor": "abc", "limit": 20}
    http.get("/api/v1/leads", headers=rep.headers)
    assert services.calls_to("leads", "list_leads")[1].kwargs["scope"] == "all"
    assert services.calls_to("leads", "list_leads")[1].kwargs["limit"] == 50
    for params in ({"limit": 0}, {"limit": 201}, {"scope": "everything"}, {"status": "x"}):
        assert http.get("/api/v1/leads", headers=rep.headers, params=params).status_code == 422


def test_claim_release_convert_and_follow_up(http, org, services):
    rep = org["rep"]
    assert http.post("/api/v1/leads/L1/claim", headers=rep.headers).status_code == 200
    assert only_call(services, "leads", "claim_lead").kwargs == {"lead_id": "L1"}
    assert http.post("/api/v1/leads/L1/release", headers=rep.headers,
                     json={}).status_code == 422
    assert http.post("/api/v1/leads/L1/release", headers=rep.headers,
                     json={"reason": "客户暂无预算"}).status_code == 200
    assert only_call(services, "leads", "release_lead").kwargs == {"lead_id": "L1",
                                                                    "reason": "客户暂无预算"}
    assert http.post("/api/v1/leads/L1/convert", headers=rep.headers).status_code == 200
    naive = http.post("/api/v1/leads/L1/follow-ups", headers=rep.headers, json={
        "kind": "call", "content": "电话沟通", "occurred_at": "2025-03-03T10:30:00"})
    assert naive.status_code == 422                      # times carry an offset
    answer = http.post("/api/v1/leads/L1/follow-ups", headers=rep.headers, json={
        "kind": "visit", "content": "上门演示", "occurred_at": "2025-03-03T10:30:00+08:00"})
    assert answer.status_code == 201
    assert only_call(services, "leads", "add_follow_up").kwargs["data"] == {
        "kind": "visit", "content": "上门演示", "occurred_at": "2025-03-03T10:30:00+08:00",
        "next_follow_up_at": None}
    # service staff do not work leads
    assert http.post("/api/v1/leads/L1/claim", headers=org["service"].headers).status_code == 403


def test_service_errors_keep_their_status(http, org, services):
    rep = org["rep"]
    cases = [
        (Conflict("lead_already_claimed", "taken", {"owner_id": "x"}), 409),
        (Conflict("claim_limit_reached", "limit"), 409),
        (NotFound("lead_not_found", "Lead not found"), 404),
        (ServiceUnavailable("service_unavailable", "down"), 503),
        (ServiceTimeout("service_timeout", "slow"), 504),
    ]
    for error, status in cases:
        services.answer("leads", "claim_lead", error)
        answer = http.post("/api/v1/leads/L1/claim", headers=rep.headers)
        assert answer.status_code == status
        assert answer.json() == {"error": {"code": error.code, "message": error.message,
                                           "details": error.details}}


def test_assign_checks_role_and_owner(http, org, services):
    manager, rep = org["manager"], org["rep"]

    def assign(user, owner_id):
        return http.post("/api/v1/leads/L1/assign", headers=user.headers,
                         json={"owner_id": owner_id})

    assert assign(rep, manager.id).status_code == 403
    for owner_id, error_type in (("nobody", "unknown_user"), (org["gone"].id, "inactive_user"),
                                 (org["outsider"].id, "user_out_of_scope")):
        answer = assign(manager, owner_id)
        assert answer.status_code == 422, owner_id
        detail = answer.json()["error"]["details"][0]
        assert detail["loc"] == ["body", "owner_id"] and detail["type"] == error_type
    assert services.calls == []
    assert assign(manager, rep.id).status_code == 200
    assert only_call(services, "leads", "assign_lead").kwargs == {"lead_id": "L1",
                                                                   "owner_id": rep.id}


def test_admin_assigns_to_anyone_active(http, org, services):
    answer = http.post("/api/v1/leads/L1/assign", headers=org["admin"],
                       json={"owner_id": org["outsider"].id})
    assert answer.status_code == 200


def _import_report(header, rows, start_row, pool, final):
    """The leads service's answer: the batch's first row a duplicate, the others created."""
    return {"created": len(rows) - 1, "duplicates": 1, "rejected": 0,
            "rows": [{"row": start_row, "status": "duplicate", "reason": "duplicate_in_file",
                      "existing_id": "L0"}]}


def test_import_streams_the_file_in_batches_in_file_order(http, org, services, live_gateway,
                                                          monkeypatch):
    monkeypatch.setattr(live_gateway.app.state.settings, "lead_import_batch", 3)
    services.answer("leads", "import_rows", _import_report)
    rep = org["rep"]
    lines = [f"客户{i},1380000{i:04d}" for i in range(8)]
    lines.insert(4, "")                                        # a blank line: row 6
    text = "姓名,电话\r\n" + "\r\n".join(lines) + "\r\n"
    answer = http.post("/api/v1/leads/import", headers=rep.headers, data={"pool": "east"},
                       files={"file": ("线索.csv", text.encode("gbk"), "text/csv")})
    assert answer.status_code == 200, answer.text
    calls = services.calls_to("leads", "import_rows")
    assert [(c.kwargs["start_row"], len(c.kwargs["rows"]), c.kwargs["final"])
            for c in calls] == [(2, 3, False), (5, 3, False), (8, 3, True)]
    assert [row for c in calls for row in c.kwargs["rows"]] == \
        [line.split(",") if line else [] for line in lines]
    assert all(c.kwargs["header"] == ["姓名", "电话"] and c.kwargs["pool"] == "east"
               and c.principal["user_id"] == rep.id for c in calls)
    report = answer.json()
    assert (report["created"], report["duplicates"], report["rejected"],
            report["truncated"]) == (6, 3, 0, False)
    assert [(r["row"], r["status"], r["reason"], r["existing_id"]) for r in report["rows"]] == \
        [(n, "duplicate", "duplicate_in_file", "L0") for n in (2, 5, 8)]


def test_import_of_a_header_alone_is_one_final_batch(http, org, services):
    services.answer("leads", "import_rows", {"created": 0, "duplicates": 0, "rejected": 0,
                                             "rows": []})
    answer = http.post("/api/v1/leads/import", headers=org["rep"].headers,
                       files={"file": ("a.csv", "\ufeffname,phone\n".encode(), "text/csv")})
    assert answer.status_code == 200, answer.text
    call = only_call(services, "leads", "import_rows")
    assert (call.kwargs["header"], call.kwargs["rows"], call.kwargs["start_row"],
            call.kwargs["final"]) == (["name", "phone"], [], 2, True)


def test_pool_rules(http, org, services):
    admin, manager = org["admin"], org["manager"]
    rules = {"follow_up_days": 7, "max_claims_per_day": 20}
    services.answer("leads", "get_pool_rules", {"pool": "default", "follow_up_days": 15})
    assert http.get("/api/v1/lead-pools/default/rules", headers=manager.headers).json() == {
        "pool": "default", "follow_up_days": 15}
    assert http.get("/api/v1/lead-pools/default/rules",
                    headers=org["rep"].headers).status_code == 403
    assert http.put("/api/v1/lead-pools/default/rules", headers=manager.headers,
                    json=rules).status_code == 403
    assert http.put("/api/v1/lead-pools/default/rules", headers=admin,
                    json={"follow_up_days": 0}).status_code == 422
    assert http.put("/api/v1/lead-pools/bad%20name/rules", headers=admin,
                    json=rules).status_code == 422
    services.answer("leads", "set_pool_rules", lambda pool, rules: {"pool": pool, **rules})
    answer = http.put("/api/v1/lead-pools/east/rules", headers=admin, json=rules)
    assert answer.status_code == 200 and answer.json()["follow_up_days"] == 7
    assert only_call(services, "leads", "set_pool_rules").kwargs == {"pool": "east",
                                                                      "rules": rules}
    services.answer("leads", "preview_pool_rules", {"items": [{"id": "L9"}]})
    assert http.post("/api/v1/lead-pools/east/rules/preview", headers=admin).json() == {
        "items": [{"id": "L9"} | {k: None for k in _lead_fields()}]}
    http.post("/api/v1/lead-pools/east/rules/preview", headers=admin,
              json={"rules": {"follow_up_days": 3}})
    previews = services.calls_to("leads", "preview_pool_rules")
    assert [c.kwargs["rules"] for c in previews] == [None, {"follow_up_days": 3}]


def _lead_fields():
    from gateway.schemas.leads import LeadPublic

    return [name for name in LeadPublic.model_fields if name != "id"]


def test_customers(http, org, services):
    rep = org["rep"]
    created = http.post("/api/v1/customers", headers=rep.headers, json={
        "name": "上海宏达机械制造有限公司", "level": "B", "phone": "021-6958 1234"})
    assert created.status_code == 201
    data = only_call(services, "customers", "create_customer").kwargs["data"]
    assert data["name"] == "上海宏达机械制造有限公司" and data["level"] == "B"
    assert data["type"] == "company" and "owner_id" not in data
    for body in ({"name": "x", "level": "E"}, {"name": "x", "status": "deal"},
                 {"name": "x", "credit_limit": "100.00"}, {"name": "x", "owner_id": rep.id}):
        assert http.post("/api/v1/customers", headers=rep.headers,
                         json=body).status_code == 422, body
    http.get("/api/v1/customers", headers=rep.headers, params={"scope": "mine", "level": "A"})
    assert only_call(services, "customers", "list_customers").kwargs == {
        "scope": "mine", "level": "A", "status": None, "owner_id": None, "q": None,
        "cursor": None, "limit": 50}
    http.get("/api/v1/customers/C1", headers=rep.headers)
    assert only_call(services, "customers", "get_customer").kwargs == {"customer_id": "C1"}
    assert http.patch("/api/v1/customers/C1", headers=rep.headers,
                      json={"level": "A"}).status_code == 200
    assert only_call(services, "customers", "update_customer").kwargs == {
        "customer_id": "C1", "data": {"level": "A"}}
    services.answer("customers", "get_customer", {"id": "C1", "credit_limit": "500000.00"})
    assert http.get("/api/v1/customers/C1",
                    headers=rep.headers).json()["credit_limit"] == "500000.00"


def test_opportunity_requires_a_visible_customer(http, org, services):
    rep = org["rep"]
    body = {"customer_id": "C1", "name": "宏达机械 CRM 采购", "amount": "12800.5",
            "expected_close_date": "2025-06-30"}
    services.answer("customers", "get_customer", NotFound("customer_not_found", "not found"))
    answer = http.post("/api/v1/opportunities", headers=rep.headers, json=body)
    assert answer.status_code == 404
    assert services.calls_to("sales", "create_opportunity") == []

    services.answer("customers", "get_customer", {"id": "C1"})
    services.answer("sales", "create_opportunity",
                    lambda data: {"id": "O1", **data, "stage": "初步接洽", "status": "open"})
    answer = http.post("/api/v1/opportunities", headers=rep.headers, json=body)
    assert answer.status_code == 201
    assert answer.json()["amount"] == "12800.50"                 # money is a decimal string
    get = services.calls_to("customers", "get_customer")[-1]
    assert get.kwargs == {"customer_id": "C1"} and get.principal["user_id"] == rep.id
    assert services.calls_to("sales", "create_opportunity")[0].kwargs["data"] == {
        "customer_id": "C1", "name": "宏达机械 CRM 采购", "amount": "12800.50",
        "currency": "CNY", "expected_close_date": "2025-06-30", "pipeline_id": None}
    for amount in ("1.001", "-5", "abc", "NaN"):
        assert http.post("/api/v1/opportunities", headers=rep.headers,
                         json={**body, "amount": amount}).status_code == 422, amount
    assert http.post("/api/v1/opportunities", headers=rep.headers,
                     json={**body, "stage": "赢单"}).status_code == 422


def test_opportunity_stage_and_lists(http, org, services):
    rep = org["rep"]
    assert http.post("/api/v1/opportunities/O1/stage", headers=rep.headers,
                     json={"stage": "输单", "lost_reason": "预算被砍"}).status_code == 200
    assert only_call(services, "sales", "change_stage").kwargs == {
        "opportunity_id": "O1", "stage": "输单", "lost_reason": "预算被砍"}
    http.get("/api/v1/opportunities", headers=rep.headers, params={"status": "open"})
    assert only_call(services, "sales", "list_opportunities").kwargs == {
        "customer_id": None, "status": "open", "cursor": None, "limit": 50}
    http.get("/api/v1/opportunities/O1", headers=rep.headers)
    assert only_call(services, "sales", "get_opportunity").kwargs == {"opportunity_id": "O1"}
    assert http.get("/api/v1/opportunities",
                    headers=org["service"].headers).status_code == 403


def test_pipelines(http, org, services):
    rep = org["rep"]
    services.answer("sales", "list_pipelines", {"items": [{"id": "P1", "name": "默认流程",
                                                           "stages": [{"name": "初步接洽",
                                                                       "probability": 10}]}]})
    assert http.get("/api/v1/pipelines", headers=rep.headers).json()["items"][0]["id"] == "P1"
    stages = [{"name": "接洽", "probability": 20}, {"name": "赢单", "probability": 100}]
    assert http.post("/api/v1/pipelines", headers=rep.headers,
                     json={"name": "快速流程", "stages": stages}).status_code == 201
    assert only_call(services, "sales", "create_pipeline").kwargs["data"] == {
        "name": "快速流程", "stages": [{**s, "kind": None} for s in stages]}
    for bad in ([stages[0]], [stages[0], stages[0]],
                [{"name": "x", "probability": 120}, stages[1]]):
        assert http.post("/api/v1/pipelines", headers=rep.headers,
                         json={"name": "坏流程", "stages": bad}).status_code == 422


def test_tickets(http, org, services):
    service = org["service"]
    body = {"customer_id": "C1", "title": "设备异响", "channel": "phone", "category": "fault",
            "priority": "high"}
    services.answer("customers", "get_customer", NotFound("customer_not_found", "not found"))
    assert http.post("/api/v1/tickets", headers=service.headers, json=body).status_code == 404
    services.answer("customers", "get_customer", {"id": "C1"})
    assert http.post("/api/v1/tickets", headers=service.headers, json={
        **body, "assignee_id": org["gone"].id}).status_code == 422
    answer = http.post("/api/v1/tickets", headers=service.headers,
                       json={**body, "assignee_id": service.id})
    assert answer.status_code == 201
    assert services.calls_to("service_desk", "create_ticket")[0].kwargs["data"] == {
        **body, "description": "", "contact_id": None, "assignee_id": service.id}
    assert http.post("/api/v1/tickets", headers=service.headers,
                     json={**body, "channel": "fax"}).status_code == 422
    http.get("/api/v1/tickets", headers=service.headers, params={"customer_id": "C1"})
    assert only_call(services, "service_desk", "list_tickets").kwargs == {
        "customer_id": "C1", "status": None, "cursor": None, "limit": 50}
    http.get("/api/v1/tickets/T1", headers=service.headers)
    assert only_call(services, "service_desk", "get_ticket").kwargs == {"ticket_id": "T1"}


def test_analytics(http, org, services):
    manager = org["manager"]
    services.answer("analytics", "funnel", {"pipeline_id": "P1", "stages": [
        {"stage": "初步接洽", "count": 3, "amount": "300.00", "conversion_rate": "0.5000"}]})
    answer = http.get("/api/v1/analytics/funnel", headers=manager.headers,
                      params={"pipeline_id": "P1", "start": "2025-01-01", "end": "2025-03-31"})
    assert answer.status_code == 200 and answer.json()["stages"][0]["amount"] == "300.00"
    assert answer.json()["stages"][0]["conversion_rate"] == "0.5000"
    assert only_call(services, "analytics", "funnel").kwargs == {
        "pipeline_id": "P1", "owner_id": None, "start": "2025-01-01", "end": "2025-03-31"}
    http.get("/api/v1/analytics/funnel", headers=manager.headers, params={"team_id": "T1"})
    assert services.calls_to("analytics", "funnel")[1].kwargs["team_id"] == "T1"
    assert http.get("/api/v1/analytics/funnel", headers=manager.headers, params={
        "start": "2025-03-01", "end": "2025-01-01"}).status_code == 422
    http.get("/api/v1/analytics/activity", headers=manager.headers, params={"limit": 10})
    assert only_call(services, "analytics", "activity").kwargs == {"cursor": None, "limit": 10}


def test_a_malformed_service_answer_is_a_500_without_internals(http, org, services):
    services.answer("leads", "get_lead", {"id": "L1", "tags": "not-a-list"})
    answer = http.get("/api/v1/leads/L1", headers=org["rep"].headers)
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "internal_error",
                                       "message": "Internal server error", "details": None}}


def test_an_unexpected_exception_is_a_500_with_request_id(http, org, services):
    services.answer("leads", "get_lead", RuntimeError("secret internals"))
    answer = http.get("/api/v1/leads/L1", headers={**org["rep"].headers,
                                                    "X-Request-ID": "req-500"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret" not in answer.text and answer.headers["x-request-id"] == "req-500"


def test_unknown_routes_and_methods(http, org):
    missing = http.get("/api/v1/nothing-here", headers=org["rep"].headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = http.delete("/api/v1/leads", headers=org["rep"].headers)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_openapi_documents_every_route(http):
    spec = http.get("/openapi.json").json()
    expected = {
        ("post", "/api/v1/auth/token"), ("get", "/api/v1/me"), ("post", "/api/v1/users"),
        ("get", "/api/v1/users"), ("post", "/api/v1/teams"), ("get", "/api/v1/teams"),
        ("post", "/api/v1/leads"), ("get", "/api/v1/leads"), ("get", "/api/v1/leads/{lead_id}"),
        ("patch", "/api/v1/leads/{lead_id}"), ("post", "/api/v1/leads/{lead_id}/claim"),
        ("post", "/api/v1/leads/{lead_id}/release"), ("post", "/api/v1/leads/{lead_id}/assign"),
        ("post", "/api/v1/leads/{lead_id}/follow-ups"),
        ("post", "/api/v1/leads/{lead_id}/convert"),
        ("get", "/api/v1/lead-pools/{pool}/rules"), ("put", "/api/v1/lead-pools/{pool}/rules"),
        ("post", "/api/v1/lead-pools/{pool}/rules/preview"),
        ("post", "/api/v1/customers"), ("get", "/api/v1/customers"),
        ("get", "/api/v1/customers/{customer_id}"), ("patch", "/api/v1/customers/{customer_id}"),
        ("get", "/api/v1/pipelines"), ("post", "/api/v1/pipelines"),
        ("post", "/api/v1/opportunities"), ("get", "/api/v1/opportunities"),
        ("get", "/api/v1/opportunities/{opportunity_id}"),
        ("post", "/api/v1/opportunities/{opportunity_id}/stage"),
        ("post", "/api/v1/tickets"), ("get", "/api/v1/tickets"),
        ("get", "/api/v1/tickets/{ticket_id}"), ("get", "/api/v1/analytics/funnel"),
        ("get", "/api/v1/analytics/activity"), ("get", "/api/v1/notifications"),
        ("get", "/api/v1/notifications/stream"),
        ("post", "/api/v1/notifications/{notification_id}/read"),
        ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"),
    }
    present = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert expected <= present
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
    schemas = spec["components"]["schemas"]
    for name in ("LeadCreate", "LeadUpdate", "LeadPublic", "CustomerCreate", "OpportunityCreate",
                 "TicketCreate", "UserCreate", "TeamCreate", "PipelineCreate"):
        assert schemas[name].get("examples"), name
    assert "owner_id" not in schemas["LeadUpdate"]["properties"]
    assert "status" not in schemas["CustomerCreate"]["properties"]
    assert http.get("/docs").status_code == 200


@pytest.mark.parametrize("body", [
    {**LEAD, "name": "李\x00娜"},                       # a field
    {**LEAD, "tags": ["华东", "a\x00b"]},               # inside a list
])
def test_nul_characters_are_refused_before_any_call(http, org, services, body):
    answer = http.post("/api/v1/leads", headers=org["rep"].headers, json=body)
    assert answer.status_code == 422, answer.text
    assert "NUL" in answer.text
    assert services.calls_to("leads", "create_lead") == []


def test_nul_in_the_query_string_is_refused(http, org, services):
    answer = http.get("/api/v1/leads?q=ab%00cd", headers=org["rep"].headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"
    assert services.calls_to("leads", "list_leads") == []


def _routing(app, requests: list[tuple[str, str]]) -> list[tuple[int | None, str]]:
    """For each (method, path): which of the app's top-level routes takes it, and how."""
    from starlette.routing import Match

    found = []
    for method, path in requests:
        scope = {"type": "http", "method": method, "path": path, "root_path": "",
                 "headers": [], "query_string": b"", "app": app}
        taken: tuple[int | None, str] = (None, "none")
        for index, route in enumerate(app.router.routes):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                taken = (index, "full")
                break
            if match == Match.PARTIAL and taken[0] is None:
                taken = (index, "partial")     # the 405 candidate, as Starlette keeps it
        found.append(taken)
    return found


def test_resource_routers_route_every_request_as_plain_api_routers_do(live_gateway,
                                                                       monkeypatch):
    """``ResourceRouter`` turns away a path outside its prefix before trying its routes:
    every request must land where FastAPI's own ``APIRouter`` would send it (full match,
    405 candidate, or nothing)."""
    import re

    from fastapi import APIRouter
    from fastapi.routing import APIRoute, iter_route_contexts

    from gateway.routers import ResourceRouter

    app = live_gateway.app
    requests = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        path = re.sub(r"\{[^}]+\}", "x1", route.path_format)
        method = sorted(route.methods)[0]
        other = next(m for m in ("DELETE", "PUT", "PATCH", "POST", "GET")
                     if m not in route.methods)
        requests += [(method, path), (other, path), (method, path + "/"),
                     (method, path + "x"), (method, path + "/x1/x2/x3")]
    requests += [("GET", "/api/v1"), ("GET", "/api/v1/"), ("GET", "/api/v1/nothing"),
                 ("POST", "/api/v1/leads-archive"), ("GET", "/api/v1/customers-pool")]
    with_check = _routing(app, requests)
    assert sum(kind == "full" for _, kind in with_check) >= 170
    monkeypatch.setattr(ResourceRouter, "matches", APIRouter.matches)
    assert _routing(app, requests) == with_check
