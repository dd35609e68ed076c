"""Operations endpoints and the per-request context (correlation id, metrics)."""
from __future__ import annotations

import re

import pytest


def test_healthz_needs_nothing(http):
    answer = http.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_readyz_is_200_when_broker_redis_and_services_answer(http, echo_service):
    answer = http.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok", "checks": {
        "broker": {"ok": True}, "redis": {"ok": True}, "echo": {"ok": True}}}


@pytest.fixture
def with_missing_service(live_gateway):
    state = live_gateway.app.state
    original = state.settings
    state.settings = original.model_copy(update={"rpc_services": ["echo", "ghost"]})
    yield
    state.settings = original


def test_readyz_is_503_and_names_the_missing_service(http, echo_service, with_missing_service):
    answer = http.get("/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert answer.json()["status"] == "unavailable"
    assert checks["echo"] == {"ok": True} and checks["broker"] == {"ok": True}
    assert checks["ghost"] == {"ok": False, "error": "service_unavailable"}


def test_request_id_is_taken_or_made(http):
    assert http.get("/healthz", headers={"X-Request-ID": "req-abc.1"}).headers[
        "x-request-id"] == "req-abc.1"
    made = http.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # a header that could forge log lines is replaced
    assert http.get("/healthz", headers={"X-Request-ID": "x" * 300}).headers[
        "x-request-id"] != "x" * 300


def test_metrics_by_route_template(http, admin):
    http.get("/api/v1/me", headers=admin)
    http.get("/api/v1/users/some-id-that-does-not-exist", headers=admin)
    http.get("/api/v1/no/such/route")
    text = http.get("/metrics").text
    assert 'gateway_http_requests_total{method="GET",route="/api/v1/me",status="200"}' in text
    assert ('gateway_http_errors_total{method="GET",route="/api/v1/users/{user_id}",'
            'status="404"}') in text
    assert 'route="unmatched"' in text and "some-id-that-does-not-exist" not in text
    assert 'gateway_http_request_duration_seconds_bucket{le="0.005",method="GET",' in text
    for name in ("gateway_rpc_duration_seconds", "gateway_rpc_errors_total",
                 "gateway_events_consumed_total", "gateway_events_dead_lettered_total"):
        assert f"# TYPE {name}" in text


def test_access_log_carries_the_request_id(http, caplog):
    import logging

    access = logging.getLogger("gateway.access")
    access.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="gateway.access"):
            http.get("/healthz?access_token=secret", headers={"X-Request-ID": "req-log-1"})
    finally:
        access.removeHandler(caplog.handler)
    record = next(r for r in caplog.records if getattr(r, "correlation_id", None) == "req-log-1")
    assert (record.method, record.route, record.status) == ("GET", "/healthz", 200)
    assert "secret" not in record.getMessage() and record.path == "/healthz"
