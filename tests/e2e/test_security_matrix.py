"""Security matrix through the whole cluster (issue 8): two teams, a rep and a manager in each,
a service agent; every object route of another rep's records answers 404, every action the
role may not take answers 403; read-only grants, API keys and Idempotency-Key end to end.
"""
from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Api


@pytest.fixture(scope="module")
def world(cluster, admin, make_user):
    teams = {}
    for name in ("east", "west"):
        answer = admin.post("/teams", json={"name": f"安全-{name}-{uuid.uuid4().hex[:4]}"})
        assert answer.status_code == 201, answer.text
        teams[name] = answer.json()["id"]
    people = {
        "rep_a": make_user("sales", teams["east"], prefix="sec-a"),
        "rep_b": make_user("sales", teams["west"], prefix="sec-b"),
        "mgr_a": make_user("manager", teams["east"], prefix="sec-ma"),
        "mgr_b": make_user("manager", teams["west"], prefix="sec-mb"),
        "agent": make_user("service", None, prefix="sec-s"),
    }
    rep_a = people["rep_a"][1]
    lead = rep_a.post("/leads", json={"name": "王芳", "company": "苏州安全测试有限公司",
                                      "phone": "+86-139-0000-0001", "source": "expo"}).json()
    claimed = rep_a.post(f"/leads/{lead['id']}/claim")
    assert claimed.status_code == 200, claimed.text
    customer = rep_a.post("/customers", json={"name": f"安全客户{uuid.uuid4().hex[:6]}"})
    assert customer.status_code == 201, customer.text
    ticket = rep_a.post("/tickets", json={"customer_id": customer.json()["id"],
                                          "title": "无法登录", "description": "登录报错",
                                          "channel": "phone", "category": "fault",
                                          "priority": "normal"})
    assert ticket.status_code == 201, ticket.text
    return {"teams": teams, "people": people, "lead": lead["id"],
            "customer": customer.json()["id"], "ticket": ticket.json()["id"]}


def object_routes(w: dict) -> list[tuple[str, str, dict | None]]:
    lead, customer, ticket = w["lead"], w["customer"], w["ticket"]
    return [
        ("get", f"/leads/{lead}", None),
        ("patch", f"/leads/{lead}", {"name": "改名"}),
        ("post", f"/leads/{lead}/follow-ups", {"kind": "call", "content": "越权跟进"}),
        ("post", f"/leads/{lead}/release", {"reason": "越权退回"}),
        ("post", f"/leads/{lead}/convert", None),
        ("get", f"/leads/{lead}/actions", None),
        ("get", f"/customers/{customer}", None),
        ("patch", f"/customers/{customer}", {"tags": ["越权"]}),
        ("get", f"/customers/{customer}/contacts", None),
        ("post", f"/customers/{customer}/contacts", {"name": "越权联系人"}),
        ("get", f"/customers/{customer}/follow-ups", None),
        ("get", f"/tickets/{ticket}", None),
        ("get", f"/tickets/{ticket}/comments", None),
    ]


def call(api: Api, method: str, path: str, body: dict | None):
    return api.request(method.upper(), path, json=body) if body is not None else api.request(
        method.upper(), path)


def test_no_record_leaks_across_scope(world):
    people = world["people"]
    outsiders = {"rep_b": people["rep_b"][1], "mgr_b": people["mgr_b"][1]}
    results = {}
    for who, api in outsiders.items():
        for method, path, body in object_routes(world):
            results[(who, method, path)] = call(api, method, path, body).status_code
    leaked = {k: v for k, v in results.items() if v != 404}
    assert leaked == {}, leaked
    # lists do not carry them either
    rep_b = outsiders["rep_b"]
    assert world["customer"] not in {c["id"] for c in rep_b.get("/customers").json()["items"]}
    assert world["ticket"] not in {t["id"] for t in rep_b.get("/tickets").json()["items"]}
    # the owner's manager does see them
    mgr_a = people["mgr_a"][1]
    for path in (f"/leads/{world['lead']}", f"/customers/{world['customer']}",
                 f"/tickets/{world['ticket']}"):
        assert mgr_a.get(path).status_code == 200, path


FORBIDDEN = [
    ("rep_b", "post", "/users", {"username": "x-forbidden", "password": "pass-word-123",
                                 "role": "admin"}),
    ("rep_b", "post", "/teams", {"name": "越权团队"}),
    ("rep_b", "post", "/permissions/grants", {"grantee_id": "x", "target_user_id": "y"}),
    ("rep_b", "get", "/permissions/grants", None),
    ("rep_b", "post", "/api-keys", {"name": "x", "user_id": "y"}),
    ("rep_b", "get", "/api-keys", None),
    ("rep_b", "get", "/audit", None),
    ("rep_b", "post", "/webhooks", {"name": "x", "url": "http://127.0.0.1:1/", "events": ["*"]}),
    ("rep_b", "put", "/lead-pools/default/rules", {"follow_up_days": 1}),
    ("mgr_b", "post", "/users", {"username": "y-forbidden", "password": "pass-word-123",
                                 "role": "sales"}),
    ("mgr_b", "get", "/audit", None),
    ("rep_b", "post", "/payments", {"instalment_id": "x", "amount": "1.00"}),
    ("mgr_b", "post", "/payments", {"instalment_id": "x", "amount": "1.00"}),
    ("mgr_b", "post", "/api-keys", {"name": "x", "user_id": "y"}),
    ("agent", "get", "/leads", None),
    ("agent", "post", "/leads", {"name": "x", "source": "expo"}),
    ("agent", "post", "/opportunities", {"customer_id": "x", "name": "y", "amount": "1.00"}),
]


def test_forbidden_actions_are_403(world):
    people = world["people"]
    lead = world["lead"]
    rows = [*FORBIDDEN, ("rep_a", "post", f"/leads/{lead}/assign",
                         {"owner_id": people["rep_b"][0]["id"]})]
    answers = {(who, m, p): call(people[who][1], m, p, b).status_code for who, m, p, b in rows}
    assert {k: v for k, v in answers.items() if v != 403} == {}


def test_read_only_grant_reads_but_never_writes(world, admin):
    people = world["people"]
    rep_b = people["rep_b"][1]
    grant = admin.post("/permissions/grants", json={
        "grantee_id": people["rep_b"][0]["id"], "target_team_id": world["teams"]["east"],
        "access": "read"})
    assert grant.status_code == 201, grant.text
    try:
        assert rep_b.get(f"/leads/{world['lead']}").status_code == 200
        assert rep_b.get(f"/customers/{world['customer']}").status_code == 200
        assert rep_b.patch(f"/leads/{world['lead']}", json={"name": "只读"}).status_code == 404
        assert rep_b.patch(f"/customers/{world['customer']}",
                           json={"tags": ["只读"]}).status_code == 404
        assert rep_b.get(f"/leads/{world['lead']}").json()["name"] == "王芳"
    finally:
        assert admin.delete(f"/permissions/grants/{grant.json()['id']}").status_code == 204
    assert rep_b.get(f"/leads/{world['lead']}").status_code == 404


def test_api_keys_carry_the_service_accounts_scope(world, admin, cluster):
    narrow = admin.post("/api-keys", json={"name": "窄", "service_account": {
        "username": f"svc-{uuid.uuid4().hex[:6]}", "role": "sales", "data_scope": "own"}})
    wide = admin.post("/api-keys", json={"name": "宽", "service_account": {
        "username": f"svc-{uuid.uuid4().hex[:6]}", "role": "manager", "data_scope": "all"}})
    assert narrow.status_code == wide.status_code == 201
    base = f"{cluster.url}/api/v1"
    import httpx

    with httpx.Client(base_url=base, timeout=30) as http:
        path = f"/customers/{world['customer']}"
        assert http.get(path, headers={"X-API-Key": narrow.json()["secret"]}).status_code == 404
        assert http.get(path, headers={"Authorization": f"Bearer {wide.json()['secret']}"}
                        ).status_code == 200
        assert admin.delete(f"/api-keys/{wide.json()['id']}").status_code == 204
        assert http.get(path, headers={"X-API-Key": wide.json()["secret"]}).status_code == 401


def test_idempotent_create_through_the_cluster(world):
    rep_a = world["people"]["rep_a"][1]
    name = f"幂等客户{uuid.uuid4().hex[:6]}"
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = rep_a.post("/customers", json={"name": name}, headers=headers)
    again = rep_a.post("/customers", json={"name": name}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    mine = rep_a.get("/customers", params={"q": name}).json()["items"]
    assert [c["id"] for c in mine] == [first.json()["id"]]
