"""Prometheus metrics of the gateway (HTTP, RPC, consumed events, notifications, view cache).

Metrics are module-level objects registered once in the default registry; ``GET /metrics``
renders that registry. Route labels are route *templates* (``/api/v1/leads/{lead_id}``),
never raw paths, so the label set stays bounded.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests handled", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=LATENCY_BUCKETS)
HTTP_ERRORS = Counter(
    "gateway_http_errors_total", "HTTP responses with status >= 400", ["method", "route", "status"])
HTTP_IN_PROGRESS = Gauge("gateway_http_requests_in_progress", "HTTP requests being handled")

RPC_LATENCY = Histogram(
    "gateway_rpc_duration_seconds", "RPC call latency seen by the gateway", ["service", "method"],
    buckets=LATENCY_BUCKETS)
RPC_ERRORS = Counter(
    "gateway_rpc_errors_total", "RPC calls that failed, by error code",
    ["service", "method", "code"])
RPC_IN_FLIGHT = Gauge("gateway_rpc_in_flight", "RPC calls waiting for their reply")
COALESCED_BATCH = Histogram(
    "gateway_coalesced_batch_size", "Requests carried by one coalesced RPC (gateway.coalesce)",
    ["service", "method"], buckets=(1, 2, 4, 8, 16, 32, 64, 128))

EVENTS_CONSUMED = Counter(
    "gateway_events_consumed_total", "Events consumed by the notification consumer",
    ["type", "outcome"])
EVENTS_FAILED = Counter(
    "gateway_events_failed_total", "Event handling attempts that failed", ["type"])
EVENTS_DEAD_LETTERED = Counter(
    "gateway_events_dead_lettered_total", "Events sent to the dead-letter queue", ["type"])
NOTIFICATIONS_CREATED = Counter(
    "gateway_notifications_created_total", "Inbox notifications created", ["type"])
SSE_CONNECTIONS = Gauge("gateway_sse_connections", "Open notification streams")

VIEW_CACHE_LOOKUPS = Counter(
    "gateway_view_cache_lookups_total",
    "360° view cache lookups: hit (served from Redis), miss (computed and kept unless "
    "partial), bypass (computed without the cache: disabled, Redis failing, odd id)",
    ["result"])
VIEW_CACHE_INVALIDATIONS = Counter(
    "gateway_view_cache_invalidations_total",
    "Customers whose cached 360° views were invalidated (generation bumped), by source "
    "(route, event, settle) and outcome (ok, failed)", ["source", "outcome"])


def render() -> tuple[bytes, str]:
    """The text exposition of every registered metric and its content type."""
    return _generate_latest(REGISTRY), CONTENT_TYPE_LATEST
