"""The 360° view's assembly in the gateway: parallel sections, each failing on its own."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from crmkit.errors import DomainError, NotFound, ServiceUnavailable
from gateway.routers import customers as router

BASE = {"customer": {"id": "C1", "name": "北京华信科技有限公司"}, "contacts": [],
        "follow_ups": [], "plans": []}


class FakeRpc:
    """Answers like the services: ``answers[(service, "customer_sections")]`` is the whole
    call (an exception or a delay in seconds); ``answers[(service, section)]`` one section's
    data, or an exception that section raised inside the service (``crmkit.sections``)."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.calls: list[tuple[str, str, dict]] = []
        self.in_flight = self.max_in_flight = 0

    async def call(self, service, method, *, principal=None, timeout=None, **kwargs):
        self.calls.append((service, method, kwargs))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self.answers.get((service, method))
            if isinstance(answer, float):
                await asyncio.sleep(answer)
            await asyncio.sleep(0.01)
            if isinstance(answer, Exception):
                raise answer
            if method != "customer_sections":
                return answer
            out = {}
            for name in kwargs["sections"]:
                data = self.answers.get((service, name), {"items": [], "next_cursor": None})
                out[name] = ({"available": False, "error": {"code": data.code,
                                                            "message": data.message}}
                             if isinstance(data, DomainError)
                             else {"available": True, "data": data})
            return out
        finally:
            self.in_flight -= 1


def user(role: str = "sales"):
    return SimpleNamespace(role=role, principal={"user_id": "u1", "role": role})


@pytest.fixture(autouse=True)
def short_budget(monkeypatch):
    monkeypatch.setattr(router, "OVERVIEW_TIMEOUT", 0.2)


def view(rpc, role="sales"):
    return asyncio.run(router.assemble_overview("C1", user(role), rpc))


def unknown_method() -> DomainError:
    error = DomainError("internal_error", "The service failed to process the request")
    error.status = 500
    return error


def test_one_call_per_service_in_parallel_with_the_customer_first():
    rpc = FakeRpc({("customers", "customer_overview"): BASE,
                   ("analytics", "profile"): {"rfm": "A"}})
    body = view(rpc)
    assert rpc.calls[0][:2] == ("customers", "customer_overview")
    assert {c[2]["customer_id"] for c in rpc.calls} == {"C1"}
    services = {service for service, _ in router.OVERVIEW_SECTIONS.values()}
    assert sorted(c[0] for c in rpc.calls[1:]) == sorted(services)      # one call each
    assert rpc.max_in_flight == len(services)                           # fanned out at once
    sales = next(c for c in rpc.calls if c[0] == "sales")
    assert sales[2]["sections"] == [n for n, (s, _) in router.OVERVIEW_SECTIONS.items()
                                    if s == "sales"]
    assert body["customer"]["id"] == "C1" and body["partial"] is False
    assert list(body["sections"]) == list(router.OVERVIEW_SECTIONS)
    assert body["sections"]["profile"] == {"available": True, "data": {"rfm": "A"}}


def test_failing_slow_and_missing_sections_do_not_fail_the_view():
    rpc = FakeRpc({("customers", "customer_overview"): BASE,
                   ("sales", "quotes"): unknown_method(),                  # one section
                   ("service_desk", "customer_sections"): 5.0,             # far past 0.2 s
                   ("analytics", "customer_sections"): ServiceUnavailable(
                       "service_unavailable", "Service 'analytics' is not running")})
    body = view(rpc)
    sections = body["sections"]
    assert body["partial"] is True
    assert sections["quotes"] == {"available": False, "error": {
        "code": "internal_error", "message": "The service failed to process the request"}}
    assert sections["opportunities"]["available"] is True       # its neighbour is served
    for name in ("tickets", "returns", "work_orders"):
        assert sections[name]["error"]["code"] == "service_timeout"
    for name in ("profile", "insights"):
        assert sections[name]["error"]["code"] == "service_unavailable"


def test_a_customer_outside_the_scope_is_404_and_nothing_else_is_called():
    rpc = FakeRpc({("customers", "customer_overview"): NotFound("customer_not_found", "no")})
    with pytest.raises(NotFound):
        view(rpc)
    assert [c[:2] for c in rpc.calls] == [("customers", "customer_overview")]


def test_sections_the_role_may_not_read_are_unavailable_without_a_call():
    rpc = FakeRpc({("customers", "customer_overview"): BASE})
    body = view(rpc, role="service")          # no opportunities.read for the service role
    assert body["sections"]["opportunities"]["error"]["code"] == "forbidden"
    assert body["sections"]["tickets"]["available"] is True
    assert not [c for c in rpc.calls if c[0] == "sales"]
