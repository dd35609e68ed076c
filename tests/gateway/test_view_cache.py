"""The 360° view cache (gateway.views) against real Redis and a real RabbitMQ.

The five services are ``RecordingRpc`` (conftest): a view is *assembled* when the customers
service's ``customer_overview`` is called, and served from the cache when it is not. Redis
(db 13) and the broker (this run's vhost) are real; events are published on the services'
exchanges as their outbox relays do.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time

import pytest
import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from crmkit.errors import NotFound
from crmkit.ids import new_id
from gateway.views import VIEW_EVENTS, ViewCache, generation_key, principal_hash
from tests.gateway.conftest import REDIS_URL
from tests.support import eventually, publish_event

SECTIONS = {"sales": ["opportunities", "quotes", "contracts", "receivable_plans", "payments",
                      "invoices"],
            "service_desk": ["tickets", "returns", "work_orders"],
            "analytics": ["profile", "insights"]}
FUTURE = "2030-03-05T10:00:00+08:00"


@pytest.fixture(scope="module")
def org(http, admin, make_team, make_user):
    team = make_team("华东大客户部")
    return {"rep": make_user("sales", team_id=team["id"]),
            "rep2": make_user("sales", team_id=team["id"]),
            "manager": make_user("manager", team_id=team["id"]),
            "other_team": make_team("华南大客户部"), "admin": admin,
            "admin_id": http.get("/api/v1/me", headers=admin).json()["id"]}


class Views:
    """Arranges the services' answers for views and counts how many were assembled."""

    def __init__(self, services, http):
        self.services = services
        self.http = http
        self.denied: set[tuple[str, str]] = set()     # (customer id, user id) -> 404
        self.unavailable: set[str] = set()            # sections answering available: false
        services.answer("customers", "customer_overview", self._overview)
        for service in SECTIONS:
            services.answer(service, "customer_sections", self._sections)

    def _overview(self, customer_id):
        user_id = self.services.calls[-1].principal["user_id"]
        if (customer_id, user_id) in self.denied:
            raise NotFound("customer_not_found", "customer not found",
                           {"customer_id": customer_id})
        return {"customer": {"id": customer_id, "name": "上海宏达机械制造有限公司",
                             "owner_id": user_id},
                "contacts": [{"id": "k1", "name": "王磊"}], "follow_ups": [], "plans": []}

    def _sections(self, customer_id, sections):
        return {name: ({"available": False, "error": {"code": "service_timeout",
                                                       "message": "slow"}}
                       if name in self.unavailable else
                       {"available": True, "data": {"items": [{"customer_id": customer_id}],
                                                    "next_cursor": None}})
                for name in sections}

    def assembled(self) -> int:
        return len(self.services.calls_to("customers", "customer_overview"))

    def get(self, customer_id: str, user):
        headers = user.headers if hasattr(user, "headers") else user
        return self.http.get(f"/api/v1/customers/{customer_id}/overview", headers=headers)

    def cached(self, customer_id: str, user) -> None:
        """Read the view until it is served from the cache."""
        first = self.get(customer_id, user)
        assert first.status_code == 200, first.text
        second = self.get(customer_id, user)
        assert second.headers["X-View-Cache"] == "hit", second.headers
        assert second.content == first.content

    def source(self, customer_id: str, user) -> str:
        answer = self.get(customer_id, user)
        assert answer.status_code == 200, answer.text
        return answer.headers["X-View-Cache"]


@pytest.fixture
def views(services, http):
    return Views(services, http)


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("gateway_view_cache_lookups_total",
                                     {"result": result}) or 0.0


# -- lookups ---------------------------------------------------------------------------------


def test_a_view_is_assembled_once_then_served_from_the_cache(views, org):
    cid, rep = new_id(), org["rep"]
    hits, misses = lookups("hit"), lookups("miss")
    first = views.get(cid, rep)
    assert first.status_code == 200 and first.headers["X-View-Cache"] == "miss"
    assert first.headers["content-type"] == "application/json"
    assert views.assembled() == 1
    for _ in range(3):
        again = views.get(cid, rep)
        assert again.headers["X-View-Cache"] == "hit"
        assert again.content == first.content
    assert views.assembled() == 1
    body = first.json()
    assert body["customer"]["id"] == cid and body["partial"] is False
    assert body["sections"]["tickets"]["data"]["items"] == [{"customer_id": cid}]
    assert (lookups("hit") - hits, lookups("miss") - misses) == (3, 1)


def test_principals_never_share_a_view(views, org, http, admin):
    cid = new_id()
    views.cached(cid, org["rep"])
    for name in ("rep2", "manager"):                  # same team, other user or role
        assert views.source(cid, org[name]) == "miss", name
    assert views.source(cid, admin) == "miss"
    assert views.assembled() == 4
    assert views.source(cid, org["rep"]) == "hit"

    # a grant widens rep2's principal: a new key at once (the route clears the cache of
    # principals in this process; other replicas within PRINCIPAL_CACHE_SECONDS)
    views.cached(cid, org["rep2"])
    grant = http.post("/api/v1/permissions/grants", headers=admin, json={
        "grantee_id": org["rep2"].id, "target_user_id": org["manager"].id, "access": "read"})
    assert grant.status_code == 201, grant.text
    assert views.source(cid, org["rep2"]) == "miss"
    assert http.delete(f"/api/v1/permissions/grants/{grant.json()['id']}",
                       headers=admin).status_code == 204
    # revoked: the old principal again, whose answer is still right (nothing changed)
    assert views.source(cid, org["rep2"]) == "hit"

    # a change of team changes the manager's visible users: a new key too
    views.cached(cid, org["manager"])
    moved = http.patch(f"/api/v1/users/{org['rep2'].id}", headers=admin,
                       json={"team_id": org["other_team"]["id"]})
    assert moved.status_code == 200, moved.text
    assert views.source(cid, org["manager"]) == "miss"


def test_a_role_change_is_a_new_key_and_a_deactivated_user_gets_401(views, make_user, http,
                                                                     admin):
    cid, user = new_id(), make_user("sales")
    views.cached(cid, user)
    promoted = http.patch(f"/api/v1/users/{user.id}", headers=admin, json={"role": "manager"})
    assert promoted.status_code == 200, promoted.text
    assert views.source(cid, user) == "miss"
    views.cached(cid, user)
    gone = http.patch(f"/api/v1/users/{user.id}", headers=admin, json={"active": False})
    assert gone.status_code == 200, gone.text
    answer = views.get(cid, user)
    assert answer.status_code == 401 and "X-View-Cache" not in answer.headers


def test_principal_hash_covers_every_field_of_the_principal():
    base = {"user_id": "u1", "username": "rep1", "role": "sales", "team_id": "t1",
            "data_scope": "own", "visible_user_ids": ["u1"], "read_only_user_ids": []}
    assert principal_hash(base) == principal_hash(dict(reversed(list(base.items()))))
    changed = [{**base, "user_id": "u2"}, {**base, "role": "manager"},
               {**base, "team_id": "t2"}, {**base, "data_scope": "team"},
               {**base, "visible_user_ids": ["u1", "u9"]},
               {**base, "read_only_user_ids": ["u9"]}, {**base, "visible_user_ids": None}]
    digests = {principal_hash(p) for p in changed}
    assert len(digests) == len(changed) and principal_hash(base) not in digests


def test_errors_and_partial_views_are_never_kept(views, org):
    cid, rep = new_id(), org["rep"]
    views.denied.add((cid, rep.id))
    for _ in range(2):
        assert views.get(cid, rep).status_code == 404
    assert views.assembled() == 2
    views.denied.clear()
    views.unavailable.add("profile")
    for _ in range(2):
        answer = views.get(cid, rep)
        assert answer.status_code == 200 and answer.json()["partial"] is True
        assert answer.headers["X-View-Cache"] == "miss"
    assert views.assembled() == 4
    views.unavailable.clear()
    assert views.source(cid, rep) == "miss"
    assert views.source(cid, rep) == "hit"


def test_a_lost_generation_is_never_found_again(views, org):
    """An expired or evicted generation key starts again from Redis' clock, not from 0: an
    entry written under the old generation is never read again."""
    cid = new_id()
    views.cached(cid, org["rep"])
    redis.Redis.from_url(REDIS_URL).delete(generation_key(cid))
    assert views.source(cid, org["rep"]) == "miss"
    assert views.source(cid, org["rep"]) == "hit"


# -- write routes --------------------------------------------------------------------------

A = "sales"
SD = "service_desk"


#: (method, path, body, arranged answers {(service, method): kind}) of every write route that
#: changes a customer's view, paths as in the OpenAPI document; the customer in the path,
#: the body (``{cid}``) or the service's answer is the one whose views must be forgotten.
WRITES = [
    ("PATCH", "/customers/{customer_id}", {"name": "上海宏达机械集团"}, {}),
    ("POST", "/customers/{customer_id}/contacts", {"name": "李娜"}, {}),
    ("POST", "/customers/{customer_id}/contacts/{contact_id}/primary", None,
     {("customers", "set_primary_contact"): "items"}),
    ("POST", "/customers/{customer_id}/follow-ups", {"kind": "call", "content": "电话沟通"}, {}),
    ("POST", "/customers/{customer_id}/follow-up-plans",
     {"scheduled_at": FUTURE, "subject": "拜访"}, {}),
    ("POST", "/customers/{customer_id}/follow-up-plans/{plan_id}/status", {"status": "done"},
     {}),
    ("POST", "/customers/{customer_id}/level", {"level": "A", "reason": "战略客户"}, {}),
    ("POST", "/customers/{customer_id}/credit-limit",
     {"credit_limit": "1000.00", "reason": "按时回款"}, {}),
    ("POST", "/customers/{customer_id}/claim", None, {}),
    ("POST", "/customers/{customer_id}/release", {"reason": "暂无预算"}, {}),
    ("POST", "/customers/{customer_id}/lock", None, {}),
    ("POST", "/customers/{customer_id}/unlock", None, {}),
    ("POST", "/customers/{customer_id}/merge", {"other_id": "{other}"}, {}),
    ("POST", "/opportunities", {"customer_id": "{cid}", "name": "二期", "amount": "1.00"}, {}),
    ("POST", "/opportunities/{opportunity_id}/stage", {"stage": "方案报价"},
     {(A, "change_stage"): "doc"}),
    ("POST", "/quotes", {"customer_id": "{cid}",
                         "lines": [{"product_id": "p1", "quantity": "1"}]}, {}),
    *[("POST", f"/quotes/{{quote_id}}/{action}", None, {(A, f"{action}_quote"): "doc"})
      for action in ("send", "accept", "reject")],
    ("POST", "/contracts", {"quote_id": "q1"}, {(A, "create_contract"): "doc"}),
    ("POST", "/contracts/{contract_id}/submit", None,
     {(A, "get_contract"): "doc", (A, "submit_contract"): "doc"}),
    ("POST", "/contracts/{contract_id}/reject", {"comment": "价格过低"},
     {(A, "reject_contract"): "doc"}),
    *[("POST", f"/contracts/{{contract_id}}/{action}", None, {(A, f"{action}_contract"): "doc"})
      for action in ("approve", "sign", "complete", "cancel")],
    ("POST", "/contracts/{contract_id}/receivable-plans",
     {"instalments": [{"due_date": "2030-01-31", "amount": "100.00"}]},
     {(A, "create_receivable_plan"): "plan"}),
    ("POST", "/payments", {"instalment_id": "i1", "amount": "10.00", "paid_at": FUTURE,
                           "method": "bank_transfer"}, {(A, "record_payment"): "doc"}),
    ("POST", "/invoices", {"contract_id": "k1", "number": "31001234", "amount": "10.00",
                           "tax": "1.15", "issued_on": "2030-01-01"},
     {(A, "issue_invoice"): "doc"}),
    ("POST", "/tickets", {"customer_id": "{cid}", "title": "设备异响", "channel": "phone",
                          "category": "fault"}, {}),
    ("POST", "/tickets/{ticket_id}/assign", {"assignee_id": "{rep}"},
     {(SD, "assign_ticket"): "doc"}),
    *[("POST", f"/tickets/{{ticket_id}}/{action}", None, {(SD, f"{action}_ticket"): "doc"})
      for action in ("start", "wait", "resume", "resolve", "close", "reopen")],
    ("POST", "/tickets/{ticket_id}/rate", {"score": 5}, {(SD, "rate_ticket"): "doc"}),
    ("POST", "/returns", {"contract_id": "k1", "customer_id": "{cid}",
                          "lines": [{"line_id": "l1", "quantity": "1"}]}, {}),
    *[("POST", f"/returns/{{return_id}}/{action}", None, {(SD, "act_on_return"): "doc"})
      for action in ("approve", "reject", "receive", "replace", "close")],
    ("POST", "/returns/{return_id}/refund", {"amount": "10.00"}, {(SD, "act_on_return"): "doc"}),
    ("POST", "/work-orders", {"customer_id": "{cid}", "kind": "installation",
                              "scheduled_at": FUTURE, "assignee_id": "{rep}"}, {}),
    ("POST", "/work-orders/{work_order_id}/complete",
     {"workload_hours": "2", "result": "安装完成"}, {(SD, "act_on_work_order"): "doc"}),
    *[("POST", f"/work-orders/{{work_order_id}}/{action}", None,
       {(SD, "act_on_work_order"): "doc"}) for action in ("start", "cancel")],
]

#: every other write route, and why it cannot change a view that exists
NO_VIEW_CHANGE = {
    # the principal is part of the key: a change is a new key (test above)
    "POST /users", "PATCH /users/{user_id}", "POST /teams", "PATCH /teams/{team_id}",
    "POST /permissions/grants", "DELETE /permissions/grants/{grant_id}",
    # a new customer has no view yet
    "POST /customers",
    # not part of any view
    "POST /auth/token", "POST /leads/import", "POST /leads", "PATCH /leads/{lead_id}",
    *[f"POST /leads/{{lead_id}}/{a}" for a in ("claim", "release", "assign", "follow-ups",
                                                 "convert", "transfer", "lock", "unlock")],
    "POST /lead-pools", "POST /lead-pools/{pool}/members",
    "DELETE /lead-pools/{pool}/members/{user_id}", "PUT /lead-pools/{pool}/rules",
    "POST /lead-pools/{pool}/rules/preview", "POST /lead-pools/{pool}/run-return-job",
    "PUT /customer-pool/rules", "POST /customer-pool/rules/preview",
    "POST /segments", "POST /segments/preview", "PATCH /segments/{segment_id}",
    "DELETE /segments/{segment_id}", "POST /campaigns", "PATCH /campaigns/{campaign_id}",
    "POST /pipelines", "POST /products", "PATCH /products/{product_id}",
    "PUT /customers/{customer_id}/billing",
    "PUT /tickets/sla/policies", "PUT /tickets/sla/calendar", "DELETE /tickets/sla/calendar/{day}",
    "POST /notifications/{notification_id}/read", "POST /notifications/read-all",
    "POST /api-keys", "DELETE /api-keys/{key_id}", "POST /webhooks",
    "DELETE /webhooks/{webhook_id}", "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    # the answer names no customer: the view follows with the event (ticket.commented)
    "POST /tickets/{ticket_id}/comments",
    # rescores every customer: their insights section follows within VIEW_CACHE_TTL_SECONDS
    "POST /analytics/scoring/refit",
}


def test_every_write_route_is_either_invalidating_or_listed_as_harmless(http):
    spec = http.get("/openapi.json").json()
    writes = {f"{m.upper()} {p.removeprefix('/api/v1')}" for p, ops in spec["paths"].items()
              for m in ops if m in ("post", "put", "patch", "delete")}
    invalidating = {f"{method} {path}" for method, path, _, _ in WRITES}
    assert not invalidating & NO_VIEW_CHANGE
    assert writes == invalidating | NO_VIEW_CHANGE


def _fill(value, cid: str, other: str, rep: str):
    if isinstance(value, str):
        return value.replace("{cid}", cid).replace("{other}", other).replace("{rep}", rep)
    if isinstance(value, dict):
        return {k: _fill(v, cid, other, rep) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, cid, other, rep) for v in value]
    return value


def _answer(kind: str, cid: str, owner_id: str) -> dict:
    if kind == "items":
        return {"items": []}
    if kind == "plan":
        return {"contract_id": "k1", "instalments": [{"id": "i1", "customer_id": cid}]}
    return {"id": "d1", "customer_id": cid, "owner_id": owner_id}


@pytest.mark.parametrize(("method", "path", "body", "answers"), WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_every_write_route_forgets_the_customers_views(views, org, http, method, path, body,
                                                       answers):
    cid, other, rep = new_id(), new_id(), org["rep"]
    for (service, rpc_method), kind in answers.items():
        views.services.answer(service, rpc_method, _answer(kind, cid, org["admin_id"]))
    views.cached(cid, rep)
    views.cached(other, rep)
    before = views.assembled()
    url = path.format(customer_id=cid, contact_id="k1", plan_id="p1", opportunity_id="o1",
                      quote_id="q1", contract_id="k1", ticket_id="t1", return_id="r1",
                      work_order_id="w1")
    answer = http.request(method, f"/api/v1{url}", headers=org["admin"],
                          json=_fill(body, cid, other, rep.id))
    assert answer.status_code in (200, 201), answer.text
    assert views.source(cid, rep) == "miss"
    merged = path.endswith("/merge")
    assert views.source(other, rep) == ("miss" if merged else "hit")
    assert views.assembled() == before + 1 + merged


# -- events --------------------------------------------------------------------------------


CUSTOMER = ("customer_id",)
MERGE = ("survivor_id", "merged_id")
#: every event that changes a view: (exchange, the fields of ``data`` naming the customers).
#: Written out here, not read from gateway.views: a type dropped there fails below.
EXPECTED_EVENTS = {
    **{t: ("customers.events", CUSTOMER) for t in (
        "customer.updated", "customer.status_changed", "customer.level_changed",
        "customer.credit_limit_changed", "customer.contact_added",
        "customer.primary_contact_changed", "customer.followed_up", "customer.claimed",
        "customer.released", "customer.locked", "customer.unlocked",
        "customer.returned_to_pool", "follow_up_plan.created", "follow_up_plan.done",
        "follow_up_plan.cancelled", "follow_up_plan.due")},
    "customer.merged": ("customers.events", MERGE),
    **{t: ("sales.events", CUSTOMER) for t in (
        "opportunity.created", "opportunity.stage_changed", "opportunity.won",
        "opportunity.lost", "quote.created", "quote.sent", "quote.accepted", "quote.rejected",
        "contract.created", "contract.submitted", "contract.approval_requested",
        "contract.approved", "contract.rejected", "contract.signed", "contract.completed",
        "contract.cancelled", "receivable.planned", "receivable.overdue", "payment.received",
        "invoice.issued")},
    **{t: ("service_desk.events", CUSTOMER) for t in (
        "ticket.created", "ticket.assigned", "ticket.commented", "ticket.started",
        "ticket.waiting", "ticket.resumed", "ticket.resolved", "ticket.closed",
        "ticket.reopened", "ticket.rated", "ticket.sla_warning", "ticket.sla_breached",
        "return.requested", "return.approved", "return.rejected", "return.received",
        "return.refunded", "return.replaced", "return.closed", "work_order.scheduled",
        "work_order.started", "work_order.completed", "work_order.cancelled")},
    "service_desk.customer_merged": ("service_desk.events", MERGE),
    "customer.churn_risk": ("analytics.events", CUSTOMER),
    "customer.value_changed": ("analytics.events", CUSTOMER),
}


def test_the_consumer_listens_to_exactly_the_view_events():
    assert {t: (v.exchange, v.fields) for t, v in VIEW_EVENTS.items()} == EXPECTED_EVENTS


def envelope(event_type: str, data: dict, source: str | None = None) -> dict:
    if source is None:
        source = EXPECTED_EVENTS[event_type][0].removesuffix(".events")
    return {"id": new_id(), "type": event_type, "version": 1,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "source": source,
            "actor_id": None, "correlation_id": "view-cache-test", "data": data}


@pytest.mark.parametrize("event_type", sorted(EXPECTED_EVENTS))
def test_every_view_event_forgets_its_customers_views(views, org, amqp_uri, event_type):
    cid, other, rep = new_id(), new_id(), org["rep"]
    fields = EXPECTED_EVENTS[event_type][1]
    data = dict(zip(fields, (cid, other), strict=False))
    views.cached(cid, rep)
    if len(fields) == 2:
        views.cached(other, rep)
    publish_event(amqp_uri, envelope(event_type, {**data, "name": "上海宏达"}))
    eventually(lambda: views.source(cid, rep) == "miss", timeout=10)
    if len(fields) == 2:
        eventually(lambda: views.source(other, rep) == "miss", timeout=10)


def test_an_event_forgets_again_once_other_consumers_had_time(views, org, amqp_uri,
                                                              live_gateway):
    """Analytics applies the same event on its own: a view assembled between the first bump
    and analytics' commit is forgotten once more, VIEW_CACHE_SETTLE_SECONDS later."""
    cid, rep = new_id(), org["rep"]
    settle = live_gateway.settings.view_cache_settle_seconds
    views.cached(cid, rep)
    publish_event(amqp_uri, envelope("payment.received", {"customer_id": cid}))
    eventually(lambda: views.source(cid, rep) == "miss", timeout=10)
    assembled_at = time.monotonic()
    assert views.source(cid, rep) == "hit"
    eventually(lambda: views.source(cid, rep) == "miss", timeout=10)
    assert time.monotonic() - assembled_at >= settle * 0.5
    time.sleep(settle * 2)
    assert views.source(cid, rep) == "hit"          # once, not forever


def test_other_events_and_malformed_ones_change_nothing(views, org, amqp_uri):
    cid, barrier, rep = new_id(), new_id(), org["rep"]
    views.cached(cid, rep)
    views.cached(barrier, rep)
    for event_type, source in (("billing.updated", "sales"), ("lead.converted", "leads"),
                               ("customer.created", "customers")):
        publish_event(amqp_uri, envelope(event_type, {"customer_id": cid}, source))
    bad = envelope("customer.updated", {"customer_id": cid})
    bad["data"] = "not an object"
    publish_event(amqp_uri, bad)
    publish_event(amqp_uri, envelope("customer.updated", {"customer_id": barrier}))
    eventually(lambda: views.source(barrier, rep) == "miss", timeout=10)
    assert views.source(cid, rep) == "hit"


# -- Redis away ------------------------------------------------------------------------------


def _dead_redis_url() -> str:
    with socket.socket() as s:                    # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


@pytest.fixture
def redis_down(live_gateway):
    """The view cache (and its consumer) talking to a Redis that refuses connections."""
    state = live_gateway.app.state
    real = state.views
    dead = ViewCache(Redis.from_url(_dead_redis_url(), socket_connect_timeout=0.2),
                     enabled=True, ttl=60, timeout=0.25)
    state.views = state.view_events.cache = dead
    try:
        yield dead
    finally:
        state.views = state.view_events.cache = real


def test_with_redis_down_views_are_still_served_and_counted(views, org, http, redis_down):
    cid, rep = new_id(), org["rep"]
    bypassed = lookups("bypass")
    for _ in range(3):
        answer = views.get(cid, rep)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-View-Cache"] == "bypass"
        assert answer.json()["customer"]["id"] == cid
    assert views.assembled() == 3
    assert lookups("bypass") - bypassed == 3
    follow = http.post(f"/api/v1/customers/{cid}/follow-ups", headers=rep.headers,
                       json={"kind": "call", "content": "电话沟通"})
    assert follow.status_code == 201, follow.text      # a write never fails on the cache


def test_an_event_that_found_redis_down_is_applied_once_it_is_back(views, org, amqp_uri,
                                                                  live_gateway):
    cid, rep = new_id(), org["rep"]
    state = live_gateway.app.state
    views.cached(cid, rep)
    real = state.view_events.cache
    dead = ViewCache(Redis.from_url(_dead_redis_url(), socket_connect_timeout=0.2),
                     enabled=True, ttl=60, timeout=0.25)
    failed = REGISTRY.get_sample_value("gateway_view_cache_invalidations_total",
                                       {"source": "event", "outcome": "failed"}) or 0.0
    state.view_events.cache = dead
    try:
        publish_event(amqp_uri, envelope("ticket.resolved", {"customer_id": cid}))
        eventually(lambda: (REGISTRY.get_sample_value(
            "gateway_view_cache_invalidations_total",
            {"source": "event", "outcome": "failed"}) or 0.0) > failed, timeout=10)
    finally:
        state.view_events.cache = real
    assert views.source(cid, rep) == "hit"          # not forgotten yet: Redis was away
    eventually(lambda: views.source(cid, rep) == "miss", timeout=10)


def test_disabled_the_cache_is_neither_read_nor_written(views, org, live_gateway):
    cid, rep = new_id(), org["rep"]
    cache = live_gateway.app.state.views
    cache.enabled = False
    try:
        assert [views.source(cid, rep) for _ in range(2)] == ["bypass", "bypass"]
    finally:
        cache.enabled = True
    assert views.source(cid, rep) == "miss"          # nothing was kept while it was off


def test_concurrent_misses_of_one_view_share_one_assembly():
    """64 readers of a view that just changed cost one assembly, not 64 (per process)."""
    async def scenario() -> tuple[int, set[bytes], int]:
        # a generous timeout: this is about sharing, not about a slow machine's Redis calls
        cache = ViewCache(Redis.from_url(REDIS_URL), enabled=True, ttl=60, timeout=30.0)
        assembled = 0

        async def assemble() -> dict:
            nonlocal assembled
            assembled += 1
            await asyncio.sleep(0.2)
            return {"customer": {"id": cid}, "sections": {}, "partial": False}

        cid = new_id()
        principal = {"user_id": "u1", "role": "sales", "visible_user_ids": ["u1"]}

        async def read() -> bytes:
            lookup = await cache.lookup(cid, principal)
            return lookup.body or await cache.assemble_once(lookup, assemble)

        bodies = await asyncio.gather(*[read() for _ in range(64)])
        other = await cache.lookup(cid, {**principal, "user_id": "u2"})
        await cache.close()
        return assembled, set(bodies), other.result == "miss"

    assembled, bodies, other_missed = asyncio.run(scenario())
    assert assembled == 1 and len(bodies) == 1 and other_missed
