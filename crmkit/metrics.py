"""Prometheus metrics every service exports on its own port.

RPC calls, latency histograms and errors by method; events published,
consumed, failed and dead-lettered; outbox backlog. ``Metrics()`` is the
DependencyProvider a service declares; it starts the exporter once per process
and observes every worker through Nameko's worker hooks.
"""
from __future__ import annotations

import logging
import time

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)

BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)

CALLS = Counter("crm_entrypoint_calls_total", "Entrypoint calls (RPC, events, timers)",
                ["service", "kind", "method"])
ERRORS = Counter("crm_entrypoint_errors_total", "Entrypoint calls that raised",
                 ["service", "kind", "method", "error"])
LATENCY = Histogram("crm_entrypoint_duration_seconds", "Entrypoint latency",
                    ["service", "kind", "method"], buckets=BUCKETS)
EVENTS_PUBLISHED = Counter("crm_events_published_total", "Events relayed to RabbitMQ",
                           ["service", "type"])
EVENTS_CONSUMED = Counter("crm_events_consumed_total", "Events handled successfully",
                          ["service", "type"])
EVENTS_FAILED = Counter("crm_events_failed_total", "Event deliveries whose handler raised",
                        ["service", "type"])
EVENTS_DEAD_LETTERED = Counter("crm_events_dead_lettered_total",
                               "Events moved to a dead-letter queue", ["service", "type"])
OUTBOX_BACKLOG = Gauge("crm_outbox_backlog", "Events committed but not yet relayed",
                       ["service"])
OUTBOX_PUBLISH_FAILURES = Counter("crm_outbox_publish_failures_total",
                                  "Relay batches that failed and will be retried", ["service"])

_started_ports: set[int] = set()


def serve(port: int) -> None:
    """Serve /metrics on ``port`` from a green thread (once per process; 0 disables)."""
    if not port or port in _started_ports:
        return
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen(("0.0.0.0", port))
    eventlet.spawn(eventlet.wsgi.server, listener, make_wsgi_app(), log_output=False)
    _started_ports.add(port)
    log.info("metrics exporter listening", extra={"port": port})


def _kind(entrypoint) -> str:
    name = type(entrypoint).__name__
    if "Rpc" in name:
        return "rpc"
    if "Event" in name:
        return "event"
    if "Timer" in name:
        return "timer"
    return name.lower()


class Metrics(DependencyProvider):
    def __init__(self):
        self._started: dict = {}

    def setup(self):
        serve(self.container.config["CRM"].metrics_port)

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        service = self.container.service_name
        kind = _kind(worker_ctx.entrypoint)
        method = worker_ctx.entrypoint.method_name
        CALLS.labels(service, kind, method).inc()
        if started is not None:
            LATENCY.labels(service, kind, method).observe(time.perf_counter() - started)
        if exc_info is not None:
            ERRORS.labels(service, kind, method, type(exc_info[1]).__name__).inc()

    def worker_teardown(self, worker_ctx):
        self._started.pop(worker_ctx, None)
