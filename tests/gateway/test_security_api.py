"""Gateway security against the live gateway: idempotency, rate limits, login throttle, body
limit, API keys, scope grants (查看权限), the audit log and secrets in the OpenAPI schema.

Real Redis (db 13) and the gateway's real store; the services are the recording fake where a
route needs one.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import uuid

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway.ratelimit import RateLimiter
from tests.gateway.conftest import PASSWORD, REDIS_URL

LEAD = {"name": "李娜", "company": "杭州云栖科技有限公司", "phone": "138 0013 8000",
        "source": "expo"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture(scope="module")
def sync_redis():
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


# -- idempotency ------------------------------------------------------------------------------


def test_idempotent_post_runs_once_and_replays_the_answer(http, admin):
    headers = {**admin, **key()}
    name = f"幂等团队-{uuid.uuid4().hex[:6]}"
    first = http.post("/api/v1/teams", headers=headers, json={"name": name})
    assert first.status_code == 201, first.text
    again = http.post("/api/v1/teams", headers=headers, json={"name": name})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    teams = http.get("/api/v1/teams", headers=admin, params={"limit": 200}).json()["items"]
    assert [t["name"] for t in teams].count(name) == 1

    reused = http.post("/api/v1/teams", headers=headers, json={"name": name + "-other"})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_idempotency_keys_are_per_caller(http, admin, make_user):
    headers = key()
    name = f"键隔离-{uuid.uuid4().hex[:6]}"
    mine = http.post("/api/v1/teams", headers={**admin, **headers}, json={"name": name})
    assert mine.status_code == 201
    rep = make_user("sales")
    theirs = http.post("/api/v1/teams", headers={**rep.headers, **headers}, json={"name": name})
    assert theirs.status_code == 403  # ran for this caller, not replayed from the admin's
    assert "idempotent-replayed" not in theirs.headers


def test_failed_answers_are_not_kept(http, admin):
    headers = {**admin, **key()}
    bad = http.post("/api/v1/teams", headers=headers, json={"name": ""})
    assert bad.status_code == 422  # kept: the same request is as invalid the next time
    assert http.post("/api/v1/teams", headers=headers, json={"name": ""}).headers[
        "idempotent-replayed"] == "true"
    no_token = key()
    assert http.post("/api/v1/teams", headers=no_token, json={"name": "x"}).status_code == 401
    assert "idempotent-replayed" not in http.post(
        "/api/v1/teams", headers=no_token, json={"name": "x"}).headers


def test_concurrent_duplicate_gets_409(http, admin, make_user, services, live_gateway):
    rep = make_user("sales")
    release = threading.Event()

    async def slow_call(service, method, *, principal=None, timeout=None, **kwargs):
        services.calls.append((service, method))
        while not release.is_set():
            await asyncio.sleep(0.02)
        return [{"result": {"id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d99", **item["data"]}}
                for item in kwargs["items"]]   # leads.create_leads (gateway.coalesce)

    services.call = slow_call
    headers = {**rep.headers, **key()}
    results = {}

    def first():
        results["first"] = httpx.post(f"{live_gateway.url}/api/v1/leads", headers=headers,
                                      json=LEAD, timeout=15)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        for _ in range(100):
            if services.calls:
                break
            threading.Event().wait(0.02)
        second = http.post("/api/v1/leads", headers=headers, json=LEAD)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "idempotency_in_progress"
    finally:
        release.set()
        thread.join(15)
    assert results["first"].status_code == 201
    third = http.post("/api/v1/leads", headers=headers, json=LEAD)
    assert third.status_code == 201 and third.json() == results["first"].json()
    assert len(services.calls) == 1  # the lead was created once


def test_bad_idempotency_key_is_422(http, admin):
    answer = http.post("/api/v1/teams", headers={**admin, "Idempotency-Key": "x" * 300},
                       json={"name": "t"})
    assert answer.status_code == 422


# -- rate limits and body size ----------------------------------------------------------------


def test_token_bucket_lua(live_gateway):
    async def run():
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL, decode_responses=True)
        limiter = RateLimiter(client, per_minute=3)
        caller = f"test:{uuid.uuid4().hex}"
        now = 1_000_000
        got = [await limiter.hit(caller, now) for _ in range(4)]
        later = await limiter.hit(caller, now + 20_000)  # one token back after 20 s
        await client.aclose()
        return got, later

    got, later = asyncio.run(run())
    assert got == [(True, 0), (True, 0), (True, 0), (False, 20)]
    assert later == (True, 0)


def test_rate_limit_per_user(http, make_user, live_gateway):
    state = live_gateway.app.state
    saved = getattr(state, "rate_limiter", None)
    state.rate_limiter = RateLimiter(state.redis, per_minute=5)
    try:
        rep, other = make_user("sales"), make_user("sales")
        codes = [http.get("/api/v1/me", headers=rep.headers).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        refused = http.get("/api/v1/me", headers=rep.headers)
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 12
        assert http.get("/api/v1/me", headers=other.headers).status_code == 200
        assert http.get("/healthz").status_code == 200  # operations are not limited
    finally:
        state.rate_limiter = saved


def test_login_throttle_per_username(http, make_user, sync_redis, admin):
    username = f"throttled-{uuid.uuid4().hex[:8]}"  # unique: runs may share the Redis db
    assert http.post("/api/v1/users", headers=admin, json={
        "username": username, "password": PASSWORD, "role": "sales"}).status_code == 201
    user = type("U", (), {"username": username})
    try:
        for _ in range(10):
            answer = http.post("/api/v1/auth/token",
                               data={"username": user.username, "password": "wrong-pass"})
            assert answer.status_code == 401
        blocked = http.post("/api/v1/auth/token",
                            data={"username": user.username, "password": PASSWORD})
        assert blocked.status_code == 429
        assert blocked.json()["error"]["code"] == "rate_limited"
        assert 250 <= int(blocked.headers["retry-after"]) <= 300
        other = make_user("sales")  # another username from the same IP still logs in
        assert http.post("/api/v1/auth/token", data={"username": other.username,
                                                     "password": PASSWORD}).status_code == 200
        audit = http.get("/api/v1/audit", headers=admin,
                         params={"action": "login_failed", "limit": 20}).json()["items"]
        assert sum(e["actor_name"] == user.username for e in audit) == 10
        throttled = http.get("/api/v1/audit", headers=admin,
                             params={"action": "login_throttled"}).json()["items"]
        assert throttled[0]["actor_name"] == user.username
    finally:
        sync_redis.delete(f"crm:login:user:{user.username}", "crm:login:ip:127.0.0.1")


@pytest.fixture
def hung_redis(live_gateway):
    """Swap the gateway's Redis for a server that accepts connections and never answers (a
    Redis stopped with SIGSTOP, or a partition): requests must not wait on it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])      # read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    state = live_gateway.app.state
    saved = state.redis, getattr(state, "rate_limiter", None)
    state.redis = AsyncRedis(host="127.0.0.1", port=server.getsockname()[1],
                             decode_responses=True, socket_connect_timeout=1)
    state.rate_limiter = RateLimiter(state.redis, per_minute=5)
    try:
        yield state.settings.redis_request_timeout
    finally:
        state.redis, state.rate_limiter = saved
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def test_a_hung_redis_does_not_hold_requests(http, admin, make_user, hung_redis):
    """Rate limit and login throttle fail open, the idempotency guard refuses with 503: each
    after ``REDIS_REQUEST_TIMEOUT``, well inside the client's 5 s."""
    rep = make_user("sales")
    quick = httpx.Timeout(5.0)
    for _ in range(6):     # past the 5 per minute the swapped limiter would allow
        assert http.get("/api/v1/me", headers=rep.headers, timeout=quick).status_code == 200
    login = http.post("/api/v1/auth/token", timeout=quick,
                      data={"username": rep.username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    name = f"挂起-{uuid.uuid4().hex[:6]}"
    refused = http.post("/api/v1/teams", headers={**admin, **key()}, json={"name": name},
                        timeout=quick)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "idempotency_unavailable"
    teams = http.get("/api/v1/teams", headers=admin, params={"limit": 200}).json()["items"]
    assert name not in [t["name"] for t in teams]      # refused before it ran


def test_body_size_limit(http, admin):
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    answer = http.post("/api/v1/teams", headers={**admin, "Content-Type": "application/json"},
                       content=big)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(20):
            yield b"x" * 100_000

    streamed = http.post("/api/v1/teams", headers={**admin, "Content-Type": "application/json"},
                         content=chunks())
    assert streamed.status_code == 413


def test_page_size_is_bounded(http, admin):
    assert http.get("/api/v1/users", headers=admin, params={"limit": 201}).status_code == 422
    assert http.get("/api/v1/users", headers=admin, params={"limit": 0}).status_code == 422
    assert http.get("/api/v1/audit", headers=admin, params={"limit": 201}).status_code == 422


# -- API keys -------------------------------------------------------------------------------


def test_api_key_lifecycle(http, admin, make_user):
    rep = make_user("sales")
    assert http.post("/api/v1/api-keys", headers=rep.headers,
                     json={"name": "x", "user_id": rep.id}).status_code == 403
    name = f"erp-{uuid.uuid4().hex[:6]}"
    created = http.post("/api/v1/api-keys", headers=admin, json={
        "name": "ERP 同步", "service_account": {"username": name, "role": "finance",
                                                "data_scope": "all"}})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith(f"crm_{body['prefix']}_")

    me = http.get("/api/v1/me", headers={"X-API-Key": secret})
    assert me.status_code == 200 and me.json()["username"] == name
    assert me.json()["role"] == "finance"
    assert http.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()[
        "id"] == body["user_id"]
    # the service account has no password anyone knows
    assert http.post("/api/v1/auth/token", data={"username": name, "password": secret}
                     ).status_code == 401

    listed = http.get("/api/v1/api-keys", headers=admin,
                      params={"user_id": body["user_id"]}).json()["items"]
    assert len(listed) == 1 and "secret" not in listed[0] and "secret_hash" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    used = http.get("/api/v1/audit", headers=admin,
                    params={"action": "api_key.used", "actor_id": body["user_id"]}).json()
    assert [e["target"] for e in used["items"]] == [body["id"]]  # once per minute

    wrong = secret[:-3] + ("aaa" if not secret.endswith("aaa") else "bbb")
    assert http.get("/api/v1/me", headers={"X-API-Key": wrong}).status_code == 401
    assert http.delete(f"/api/v1/api-keys/{body['id']}", headers=admin).status_code == 204
    refused = http.get("/api/v1/me", headers={"X-API-Key": secret})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert http.delete("/api/v1/api-keys/nope", headers=admin).status_code == 404


def test_api_key_for_existing_user_and_validation(http, admin, make_user):
    rep = make_user("sales")
    created = http.post("/api/v1/api-keys", headers=admin, json={"name": "k",
                                                                 "user_id": rep.id})
    assert created.status_code == 201
    assert http.get("/api/v1/me", headers={"X-API-Key": created.json()["secret"]}).json()[
        "id"] == rep.id
    for bad in ({"name": "k"}, {"name": "k", "user_id": "missing"},
                {"name": "k", "user_id": rep.id, "service_account": {"username": "zz",
                                                                      "role": "sales"}}):
        assert http.post("/api/v1/api-keys", headers=admin, json=bad).status_code == 422


# -- scope grants (查看权限) ----------------------------------------------------------------


def test_grants_widen_the_principal(http, admin, make_team, make_user, services):
    east = make_team("授权华东")
    sub = make_team("授权华东一组", parent_id=east["id"])
    reader = make_user("sales")
    owner = make_user("sales", team_id=east["id"])
    deep = make_user("sales", team_id=sub["id"])
    lone = make_user("sales")

    read = http.post("/api/v1/permissions/grants", headers=admin, json={
        "grantee_id": reader.id, "target_team_id": east["id"], "include_subteams": True,
        "access": "read"})
    assert read.status_code == 201, read.text
    write = http.post("/api/v1/permissions/grants", headers=admin, json={
        "grantee_id": reader.id, "target_user_id": lone.id, "access": "write",
        "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()})
    assert write.status_code == 201

    me = http.get("/api/v1/me", headers=reader.headers).json()
    assert set(me["visible_user_ids"]) == {reader.id, owner.id, deep.id, lone.id}
    assert set(me["read_only_user_ids"]) == {owner.id, deep.id}

    http.get("/api/v1/leads", headers=reader.headers)
    http.post("/api/v1/leads", headers=reader.headers, json=LEAD)
    read_call = services.calls_to("leads", "list_leads")[0]
    write_call = services.calls_to("leads", "create_lead")[0]
    assert set(read_call.principal["visible_user_ids"]) == {reader.id, owner.id, deep.id,
                                                            lone.id}
    assert set(write_call.principal["visible_user_ids"]) == {reader.id, lone.id}

    listed = http.get("/api/v1/permissions/grants", headers=admin,
                      params={"grantee_id": reader.id}).json()["items"]
    assert {g["id"] for g in listed} == {read.json()["id"], write.json()["id"]}
    assert http.delete(f"/api/v1/permissions/grants/{read.json()['id']}",
                       headers=admin).status_code == 204
    me = http.get("/api/v1/me", headers=reader.headers).json()
    assert set(me["visible_user_ids"]) == {reader.id, lone.id} and me["read_only_user_ids"] == []

    actions = [e["action"] for e in http.get("/api/v1/audit", headers=admin,
                                             params={"limit": 200}).json()["items"]
               if e["target"] in (read.json()["id"], write.json()["id"])]
    assert actions == ["grant.revoked", "grant.created", "grant.created"]


def test_grant_validation_and_permissions(http, admin, make_user):
    rep, other = make_user("sales"), make_user("sales")
    base = {"grantee_id": rep.id, "target_user_id": other.id}
    assert http.post("/api/v1/permissions/grants", headers=rep.headers,
                     json=base).status_code == 403
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    for bad in ({**base, "expires_at": past}, {**base, "target_team_id": "x"},
                {"grantee_id": rep.id}, {**base, "target_user_id": rep.id},
                {**base, "grantee_id": "missing"}, {**base, "access": "admin"},
                {**base, "include_subteams": True}, {**base, "expires_at": "2030-01-01T00:00"}):
        answer = http.post("/api/v1/permissions/grants", headers=admin, json=bad)
        assert answer.status_code == 422, (bad, answer.text)
    assert http.delete("/api/v1/permissions/grants/missing", headers=admin).status_code == 404


# -- audit and secrets ----------------------------------------------------------------------


def test_audit_is_admin_only_and_paged(http, admin, make_user):
    rep = make_user("sales")
    assert http.get("/api/v1/audit", headers=rep.headers).status_code == 403
    first = http.get("/api/v1/audit", headers=admin, params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = http.get("/api/v1/audit", headers=admin,
                      params={"limit": 2, "cursor": first["next_cursor"]}).json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    logins = http.get("/api/v1/audit", headers=admin, params={"action": "login"}).json()
    assert any(e["actor_id"] == rep.id for e in logins["items"])


SECRET_NAMES = {"password_hash", "secret", "secret_hash", "password"}
ONE_TIME = {"ApiKeyCreated", "WebhookCreated"}
INPUTS_WITH_PASSWORD = {"UserCreate", "UserUpdate", "Body_issue_token_api_v1_auth_token_post"}


def test_no_response_schema_carries_secrets(http):
    spec = http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    offenders = []
    for name, schema in schemas.items():
        props = set(schema.get("properties", {}))
        leaked = props & SECRET_NAMES
        if leaked and name not in ONE_TIME and name not in INPUTS_WITH_PASSWORD:
            offenders.append((name, leaked))
    assert offenders == []
    # and the input schemas with a password are never used as a response
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for answer in op.get("responses", {}).values():
                ref = str(answer.get("content", {}))
                assert not any(f"/{n}'" in ref for n in INPUTS_WITH_PASSWORD), path


def test_every_request_body_rejects_unknown_and_server_owned_fields(http, admin):
    spec = http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def objects(schema):
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in schema:
            for option in schema["anyOf"]:
                yield from objects(option)
        elif schema.get("type") == "object":
            yield schema

    server_owned = {"id", "created_at", "updated_at", "created_by", "password_hash",
                    "secret", "secret_hash", "last_used_at", "revoked_at"}
    checked = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = (op.get("requestBody", {}).get("content", {})
                    .get("application/json", {}).get("schema"))
            if body is None:
                continue
            for schema in objects(body):
                checked += 1
                assert schema.get("additionalProperties") is False, (method, path)
                assert not set(schema.get("properties", {})) & server_owned, (method, path)
    assert checked > 50
    # and the rejection is real: a server-owned field is a 422 naming it
    answer = http.post("/api/v1/teams", headers=admin, json={"name": "x", "id": "mine"})
    assert answer.status_code == 422
    assert ["body", "id"] in [d["loc"] for d in answer.json()["error"]["details"]]


PUBLIC = {("post", "/api/v1/auth/token"), ("get", "/healthz"), ("get", "/readyz"),
          ("get", "/metrics")}


def test_openapi_says_how_each_operation_authenticates(http):
    """``get_current_user`` reads the bearer token and the API key itself (no scheme
    sub-dependencies); ``document_security`` must still declare both on every operation
    that needs a caller, and none on the public ones."""
    spec = http.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                       "description": "an integration's API key (`crm_...`)"}
    either = [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]
    checked = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if (method, path) in PUBLIC:
                assert "security" not in op, (method, path)
            elif path == "/api/v1/notifications/stream":   # EventSource: bearer or ?access_token
                assert op["security"] == [{"OAuth2PasswordBearer": []}]
            else:
                assert op.get("security") == either, (method, path)
                checked += 1
    assert checked > 150


def test_an_operation_documented_as_protected_refuses_a_caller_without_credentials(http):
    spec = http.get("/openapi.json").json()
    unparameterised = [path for path, ops in spec["paths"].items()
                       if "get" in ops and "security" in ops["get"] and "{" not in path
                       and path != "/api/v1/notifications/stream"]
    assert len(unparameterised) > 20
    for path in unparameterised:
        answer = http.get(path)
        assert answer.status_code == 401, (path, answer.status_code)
        assert answer.json()["error"]["code"] == "not_authenticated", path
