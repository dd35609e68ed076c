"""Service levels (SLA) of tickets, in BUSINESS time, as pure functions.

A policy gives, per priority (and optionally per category, which wins over the priority's
own policy), the business minutes allowed until the first response and until resolution.
The defaults (overridable in the store through ``set_sla_policy``):

=========  ==============  ==========
priority   first response  resolution
=========  ==============  ==========
urgent     1 h             4 h
high       4 h             16 h
normal     8 h             24 h
low        16 h            40 h
=========  ==============  ==========

Business hours come from the ``BusinessCalendar`` (domain/calendar.py). A warning is due
when ``WARNING_FRACTION`` (80 %) of a target's business time has been used; the target is
breached at its deadline. Time waiting on the customer does not count (``resume``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.service_desk.domain.calendar import BusinessCalendar

WARNING_FRACTION = 0.8
TARGETS = ("first_response", "resolution")
LEVELS = ("warning", "breached")


@dataclass(frozen=True)
class Policy:
    first_response_minutes: int
    resolution_minutes: int

    def __post_init__(self):
        if self.first_response_minutes <= 0 or self.resolution_minutes <= 0:
            raise ValueError("SLA targets must be positive")
        if self.first_response_minutes > self.resolution_minutes:
            raise ValueError("the first response cannot be due after the resolution")


DEFAULT_POLICIES: dict[str, Policy] = {
    "urgent": Policy(60, 240),
    "high": Policy(240, 960),
    "normal": Policy(480, 1440),
    "low": Policy(960, 2400),
}


def policy_for(priority: str, category: str | None,
               overrides: dict[tuple[str, str | None], Policy] | None = None) -> Policy:
    """The policy of ``(priority, category)``, else of ``(priority, None)``, else the default."""
    overrides = overrides or {}
    for key in ((priority, category), (priority, None)):
        if key in overrides:
            return overrides[key]
    try:
        return DEFAULT_POLICIES[priority]
    except KeyError:
        raise ValueError(f"unknown priority {priority!r}") from None


@dataclass(frozen=True)
class Deadlines:
    first_response_due: datetime
    first_response_warn_at: datetime
    resolution_due: datetime
    resolution_warn_at: datetime


def deadlines(policy: Policy, opened_at: datetime, calendar: BusinessCalendar) -> Deadlines:
    """When a ticket opened at ``opened_at`` gets its warnings and must be answered/resolved."""
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be timezone-aware")
    first = timedelta(minutes=policy.first_response_minutes)
    resolution = timedelta(minutes=policy.resolution_minutes)
    return Deadlines(
        first_response_due=calendar.add(opened_at, first),
        first_response_warn_at=calendar.add(opened_at, first * WARNING_FRACTION),
        resolution_due=calendar.add(opened_at, resolution),
        resolution_warn_at=calendar.add(opened_at, resolution * WARNING_FRACTION),
    )


def alerts_due(now: datetime, warn_at: datetime | None, due: datetime | None) -> list[str]:
    """The alert levels a target has reached at ``now``: a warning before the deadline,
    ``breached`` from the deadline on (the warning is then pointless and not raised)."""
    if due is not None and now >= due:
        return ["breached"]
    if warn_at is not None and now >= warn_at:
        return ["warning"]
    return []
