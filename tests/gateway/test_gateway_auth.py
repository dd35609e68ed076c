"""Identity through the running gateway: login, tokens, /me, users, teams, error shapes."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.security import create_access_token
from tests.gateway.conftest import ADMIN_PASSWORD, ADMIN_USER, PASSWORD, login


def test_login_issues_a_bearer_token(http):
    answer = http.post("/api/v1/auth/token",
                       data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 30 * 60
    me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == ADMIN_USER and me.json()["role"] == "admin"
    assert me.json()["visible_user_ids"] is None and "users.manage" in me.json()["permissions"]
    assert me.json()["created_at"].endswith("+00:00")            # times: UTC with an offset


def test_bad_credentials_are_401(http):
    answer = http.post("/api/v1/auth/token",
                       data={"username": ADMIN_USER, "password": "wrong-password"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "invalid_credentials"
    missing = http.post("/api/v1/auth/token", data={"username": ADMIN_USER})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["loc"] == ["body", "password"]


def test_unknown_user_is_the_same_401(http):
    answer = http.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 10})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_credentials"


def test_missing_bad_and_expired_tokens_are_401(http, gateway_settings, make_user):
    user = make_user("sales")
    secret = gateway_settings.jwt_secret.get_secret_value()
    expired = create_access_token(user.id, secret, 30,
                                  now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).token
    forged = create_access_token(user.id, "some-other-secret-0123456789abcdefgh", 30).token
    cases = {
        None: "not_authenticated",
        "Bearer garbage": "invalid_token",
        f"Bearer {expired}": "token_expired",
        f"Bearer {forged}": "invalid_token",
        f"Bearer {create_access_token('no-such-user', secret, 30).token}": "invalid_token",
    }
    for header, code in cases.items():
        answer = http.get("/api/v1/me", headers={"Authorization": header} if header else {})
        assert answer.status_code == 401, header
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == {"error": {"code": code, "message": answer.json()["error"][
            "message"], "details": None}}


def test_admin_only_routes_are_403_for_other_roles(http, make_user):
    for role in ("sales", "manager", "finance"):
        user = make_user(role)
        for method, path in (("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
                             ("GET", "/api/v1/teams"), ("POST", "/api/v1/teams")):
            answer = http.request(method, path, headers=user.headers, json={"name": "x"})
            assert answer.status_code == 403, (role, method, path)
            assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("role", "scope"), [
    ("admin", "all"), ("manager", "team_tree"), ("finance", "all"), ("sales", "own"),
    ("service", "own")])
def test_new_users_get_the_default_scope_of_their_role(http, make_user, role, scope):
    user = make_user(role)
    me = http.get("/api/v1/me", headers=user.headers).json()
    assert me["data_scope"] == scope and me["role"] == role and me["active"] is True
    assert "password" not in me and "password_hash" not in me


def test_user_validation(http, admin, make_user):
    existing = make_user("sales")
    duplicate = http.post("/api/v1/users", headers=admin, json={
        "username": existing.username, "password": PASSWORD, "role": "sales"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "username_taken"

    unknown_team = http.post("/api/v1/users", headers=admin, json={
        "username": "u-unknown-team", "password": PASSWORD, "role": "sales",
        "team_id": "no-such-team"})
    assert unknown_team.status_code == 422
    assert unknown_team.json()["error"]["details"][0]["loc"] == ["body", "team_id"]

    bad = http.post("/api/v1/users", headers=admin, json={
        "username": "u bad", "password": "zq9x!Y7", "role": "boss", "id": "mine"})
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "validation_error"
    locs = {tuple(d["loc"]) for d in error["details"]}
    assert {("body", "username"), ("body", "password"), ("body", "role"),
            ("body", "id")} <= locs
    assert all(set(d) == {"loc", "msg", "type"} for d in error["details"])
    assert "zq9x!Y7" not in bad.text                     # submitted values are not echoed


def test_admin_lists_gets_and_changes_users(http, admin, make_user):
    user = make_user("service")
    first = http.get("/api/v1/users", headers=admin, params={"limit": 1})
    assert first.status_code == 200 and len(first.json()["items"]) == 1
    second = http.get("/api/v1/users", headers=admin,
                      params={"limit": 1, "cursor": first.json()["next_cursor"]})
    assert second.json()["items"][0]["id"] > first.json()["items"][0]["id"]
    assert http.get("/api/v1/users", headers=admin,
                    params={"cursor": "!!"}).status_code == 422
    found = http.get("/api/v1/users", headers=admin, params={"q": user.username}).json()
    assert [u["id"] for u in found["items"]] == [user.id]

    assert http.get(f"/api/v1/users/{user.id}", headers=admin).json()["role"] == "service"
    assert http.get("/api/v1/users/nobody", headers=admin).status_code == 404
    promoted = http.patch(f"/api/v1/users/{user.id}", headers=admin, json={"role": "manager"})
    assert promoted.status_code == 200
    assert promoted.json()["data_scope"] == "team_tree"     # the new role's default
    assert http.patch(f"/api/v1/users/{user.id}", headers=admin,
                      json={"role": None}).status_code == 422


def test_a_deactivated_user_is_locked_out_at_once(http, admin, make_user):
    user = make_user("sales")
    assert http.get("/api/v1/me", headers=user.headers).status_code == 200
    assert http.patch(f"/api/v1/users/{user.id}", headers=admin,
                      json={"active": False}).status_code == 200
    assert http.get("/api/v1/me", headers=user.headers).status_code == 401
    answer = http.post("/api/v1/auth/token", data={"username": user.username,
                                                   "password": PASSWORD})
    assert answer.status_code == 401


def test_admin_cannot_demote_themselves(http, admin):
    me = http.get("/api/v1/me", headers=admin).json()
    answer = http.patch(f"/api/v1/users/{me['id']}", headers=admin, json={"active": False})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "cannot_demote_self"


def test_password_change(http, admin, make_user):
    user = make_user("sales")
    assert http.patch(f"/api/v1/users/{user.id}", headers=admin,
                      json={"password": "a-new-password"}).status_code == 200
    assert login(http, user.username, "a-new-password")


def test_team_validation_and_cycles(http, admin, make_team, make_user):
    root = make_team("总部")
    child = make_team("华东大区", parent_id=root["id"])
    grandchild = make_team("上海一部", parent_id=child["id"])

    def post(json):
        return http.post("/api/v1/teams", headers=admin, json=json)

    unknown_parent = post({"name": "x", "parent_id": "nope"})
    assert unknown_parent.status_code == 422
    assert unknown_parent.json()["error"]["details"][0]["loc"] == ["body", "parent_id"]
    assert post({"name": "x", "manager_id": "nobody"}).status_code == 422
    assert post({"name": ""}).status_code == 422

    cycle = http.patch(f"/api/v1/teams/{root['id']}", headers=admin,
                       json={"parent_id": grandchild["id"]})
    assert cycle.status_code == 422
    assert cycle.json()["error"]["details"][0]["type"] == "team_cycle"
    self_parent = http.patch(f"/api/v1/teams/{child['id']}", headers=admin,
                             json={"parent_id": child["id"]})
    assert self_parent.status_code == 422

    inactive = make_user("manager")
    http.patch(f"/api/v1/users/{inactive.id}", headers=admin, json={"active": False})
    assert http.patch(f"/api/v1/teams/{child['id']}", headers=admin,
                      json={"manager_id": inactive.id}).status_code == 422

    moved = http.patch(f"/api/v1/teams/{grandchild['id']}", headers=admin,
                       json={"parent_id": root["id"], "name": "上海一部（直属）"})
    assert moved.status_code == 200 and moved.json()["parent_id"] == root["id"]
    assert http.get(f"/api/v1/teams/{grandchild['id']}", headers=admin).json()["name"] == \
        "上海一部（直属）"
    listed = http.get("/api/v1/teams", headers=admin, params={"parent_id": root["id"]}).json()
    assert {t["id"] for t in listed["items"]} == {child["id"], grandchild["id"]}


def test_principal_follows_the_team_tree(http, admin, make_team, make_user):
    """The principal sent to services resolves data scopes against the real tree."""
    region = make_team("华南大区")
    branch = make_team("深圳分部", parent_id=region["id"])
    boss = make_user("manager", team_id=region["id"])
    rep = make_user("sales", team_id=branch["id"])
    peer = make_user("sales", team_id=branch["id"])
    lead = make_user("sales", team_id=branch["id"], data_scope="team")

    def visible(user):
        return http.get("/api/v1/me", headers=user.headers).json()["visible_user_ids"]

    assert visible(boss) == sorted([boss.id, rep.id, peer.id, lead.id])     # team_tree
    assert visible(rep) == [rep.id]                                          # own
    assert visible(lead) == sorted([rep.id, peer.id, lead.id])               # team

    # subordinates: the teams boss manages; none until they manage one
    http.patch(f"/api/v1/users/{boss.id}", headers=admin, json={"data_scope": "subordinates"})
    assert visible(boss) == [boss.id]
    http.patch(f"/api/v1/teams/{branch['id']}", headers=admin, json={"manager_id": boss.id})
    assert visible(boss) == sorted([boss.id, rep.id, peer.id, lead.id])
    # moving a rep out of the tree is seen at once (the cache is cleared on changes)
    elsewhere = make_team("独立团队")
    http.patch(f"/api/v1/users/{peer.id}", headers=admin, json={"team_id": elsewhere["id"]})
    assert visible(boss) == sorted([boss.id, rep.id, lead.id])
