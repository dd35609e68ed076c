"""Bounded fuzzing of every operation in the OpenAPI document against the running cluster.

schemathesis is not a dependency of this project, so this is a small generator of its own:
for each operation it sends the documented example (or a minimal body), an empty body, bodies
of the wrong types, oversized and unicode strings, random ids and out-of-range query values —
as an administrator for reads and as a fresh sales rep for writes (so the fuzzing cannot change
shared settings other tests rely on). It checks: no 5xx ever, every error has the
``{"error": {"code", "message", "details"}}`` body, and every 2xx JSON answer validates
against the operation's documented response schema (jsonschema, OpenAPI 3.1 = JSON Schema
2020-12). Bounded: a few requests per operation, well under 60 s.
"""
from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import jsonschema
import pytest

SKIP = {("get", "/api/v1/notifications/stream"), ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/leads/export")}
SEED = 20261124


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example_body(spec: dict, schema: dict) -> Any:
    schema = resolve(spec, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "anyOf" in schema:
        return example_body(spec, schema["anyOf"][0])
    kind = schema.get("type")
    if kind == "object":
        return {name: example_body(spec, sub) for name, sub in schema.get("properties", {}).items()
                if name in schema.get("required", [])}
    if kind == "array":
        return []
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "测试", "integer": 1, "number": 1.5, "boolean": True}.get(kind, "x")


def garbage(rng: random.Random) -> list[Any]:
    return [None, [], "x" * 5000, {"$where": "1"}, {"owner_id": "x", "status": "won", "id": "y"},
            rng.randint(-2**63, 2**63), "🙂\u0000\ud7ff", {"name": 12, "amount": "NaN"}]


def fill_path(path: str, rng: random.Random) -> str:
    out = []
    for part in path.split("/"):
        if part.startswith("{"):
            part = rng.choice([uuid.uuid4().hex, "0", "%2e%2e", "x" * 64, "默认"])
        out.append(part)
    return "/".join(out)


def query_cases(op: dict) -> list[dict]:
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    if not names:
        return [{}]
    return [{}, {n: "-1" for n in names}, {n: "x" * 300 for n in names},
            {"limit": "0", "cursor": "!!"}]


@pytest.fixture(scope="module")
def spec(cluster):
    return httpx.get(f"{cluster.url}/openapi.json", timeout=30).json()


def check(spec: dict, op: dict, answer: httpx.Response, failures: list, label: str,
          tally: dict) -> None:
    tally[answer.status_code // 100 * 100] = tally.get(answer.status_code // 100 * 100, 0) + 1
    if answer.status_code >= 500:
        failures.append((label, answer.status_code, answer.text[:200]))
        return
    kind = answer.headers.get("content-type", "")
    if answer.status_code >= 400:
        body = answer.json()
        if set(body.get("error", {})) != {"code", "message", "details"}:
            failures.append((label, answer.status_code, "error body shape"))
        return
    if "application/json" not in kind:
        return
    documented = op.get("responses", {}).get(str(answer.status_code), {})
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if not schema:
        return
    full = {**schema, "components": spec["components"]}  # "#/components/..." resolves here
    try:
        jsonschema.validate(answer.json(), full, cls=jsonschema.Draft202012Validator)
        tally["validated"] = tally.get("validated", 0) + 1
    except jsonschema.ValidationError as exc:
        failures.append((label, answer.status_code, f"schema: {exc.message[:200]}"))


def test_fuzz_every_operation(cluster, admin, make_user, spec):
    rng = random.Random(SEED)
    _, rep = make_user("sales", None, prefix="fuzz")
    failures: list = []
    tally: dict = {}
    sent = 0
    operations = 0
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        for path, ops in sorted(spec["paths"].items()):
            for method, op in sorted(ops.items()):
                if (method, path) in SKIP or method not in ("get", "post", "put", "patch",
                                                             "delete"):
                    continue
                operations += 1
                caller = admin if method == "get" else rep
                headers = {"Authorization": f"Bearer {caller.token}"}
                body_schema = (op.get("requestBody", {}).get("content", {})
                               .get("application/json", {}).get("schema"))
                bodies: list[Any] = [None]
                if body_schema is not None:
                    bodies = [example_body(spec, body_schema), {}, *rng.sample(garbage(rng), 3)]
                for query in query_cases(op):
                    for body in bodies:
                        url = fill_path(path, rng)
                        kwargs: dict[str, Any] = {"params": query, "headers": headers}
                        if body_schema is not None:
                            kwargs["json"] = body
                        answer = http.request(method.upper(), url, **kwargs)
                        sent += 1
                        check(spec, op, answer, failures, f"{method.upper()} {url} {query}",
                              tally)
    print(f"fuzzed {operations} operations with {sent} requests, {len(failures)} failures, "
          f"answers by class and 2xx bodies validated: {tally}")
    assert tally.get("validated", 0) > 20  # the schema check did run
    assert failures == [], failures[:20]
