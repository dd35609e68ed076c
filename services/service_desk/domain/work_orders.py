"""Service work orders (服务工单): on-site tests, installations, demonstrations, repairs.

::

    scheduled ──start──▶ in_progress ──complete(workload_hours > 0, result)──▶ completed
        └──────────cancel──────┴──▶ cancelled
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

KINDS = ("test", "installation", "demonstration", "repair")
STATUSES = ("scheduled", "in_progress", "completed", "cancelled")
NUMBER_PREFIX = "WO"

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("scheduled",), "in_progress"),
    "complete": (("in_progress",), "completed"),
    "cancel": (("scheduled", "in_progress"), "cancelled"),
}


def next_status(status: str, action: str) -> str | None:
    sources, target = TRANSITIONS[action]
    return target if status in sources else None


def by_business_day(items: list[dict], tz: ZoneInfo, key: str = "scheduled_at") -> list[dict]:
    """``[{date, items}]`` in date order, each day's items in time order; ``items`` carry an
    ISO 8601 ``key`` and are grouped by its calendar day in ``tz``."""
    days: dict[date, list[dict]] = defaultdict(list)
    for item in items:
        moment = datetime.fromisoformat(item[key])
        days[moment.astimezone(tz).date()].append(item)
    return [{"date": day.isoformat(), "items": sorted(days[day], key=lambda i: i[key])}
            for day in sorted(days)]
