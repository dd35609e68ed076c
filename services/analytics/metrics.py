"""Business metrics of analytics (the kit's ``Metrics`` covers calls and event counts).

``crm_analytics_event_lag_seconds``: time from an event's ``occurred_at`` (the
producer's commit) to the moment its projection committed here. The product target
is p99 ≤ 500 ms under load (SPEC §7).
"""
from __future__ import annotations

from prometheus_client import Histogram

from crmkit import timeutil
from services.analytics.domain.envelope import Event

EVENT_LAG = Histogram(
    "crm_analytics_event_lag_seconds",
    "Seconds from an event's occurred_at to its projection committed in analytics",
    ["source"],
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


def observe_lag(event: Event) -> float:
    lag = max(0.0, (timeutil.now() - event.occurred_at).total_seconds())
    EVENT_LAG.labels(event.source).observe(lag)
    return lag
