"""Business gauges: counts a service reads from its own store and exports to Prometheus.

    gauges = BusinessGauges({
        "crm_leads_in_pool": ("Leads in a public pool", lambda: select(func.count())...),
    })

Every ``interval`` seconds (``CRM_GAUGES_INTERVAL``, default 15) a green thread runs each
query on the service's store and sets the gauge ``<name>{service=...}``. Every replica
reports the same figure, so dashboards and alerts take ``max by (service)``.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable

import eventlet
from nameko.extensions import DependencyProvider
from prometheus_client import Gauge

log = logging.getLogger(__name__)
_GAUGES: dict[str, Gauge] = {}


def _gauge(name: str, description: str) -> Gauge:
    """One Gauge per name per process (several containers of a service may share a process)."""
    if name not in _GAUGES:
        _GAUGES[name] = Gauge(name, description, ["service"])
    return _GAUGES[name]


class BusinessGauges(DependencyProvider):
    def __init__(self, queries: dict[str, tuple[str, Callable]], interval: float | None = None):
        self.queries = queries
        self.interval = interval or float(os.environ.get("CRM_GAUGES_INTERVAL", "15"))
        self._running = False

    def setup(self):
        self.gauges = {name: _gauge(name, description)
                       for name, (description, _) in self.queries.items()}

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier="business-gauges")

    def stop(self):
        self._running = False

    kill = stop

    def _store(self):
        from crmkit.uow import Database

        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                return dependency.store
        raise RuntimeError("BusinessGauges needs a Database dependency on the service")

    def refresh(self) -> dict[str, float]:
        """Run every query once and set the gauges; returns the values (for tests)."""
        values = {}
        with self._store().engine.connect() as conn:
            for name, (_, query) in self.queries.items():
                value = conn.execute(query()).scalar() or 0
                self.gauges[name].labels(self.container.service_name).set(value)
                values[name] = float(value)
        return values

    def _loop(self):
        while self._running:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a failed refresh must not stop the service
                log.exception("business gauges refresh failed")
            eventlet.sleep(self.interval)
