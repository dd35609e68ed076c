"""Service levels (SLA) per ticket priority, as pure functions of data and a clock.

Each priority promises a first response and a resolution within a number of
hours from the moment the ticket was opened (wall-clock hours, 7×24 service):

=========  ==============  ==========
priority   first response  resolution
=========  ==============  ==========
urgent     1 h             4 h
high       4 h             24 h
normal     8 h             72 h
low        24 h            168 h
=========  ==============  ==========
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ServiceLevel:
    first_response: timedelta
    resolution: timedelta


SLA: dict[str, ServiceLevel] = {
    "urgent": ServiceLevel(timedelta(hours=1), timedelta(hours=4)),
    "high": ServiceLevel(timedelta(hours=4), timedelta(hours=24)),
    "normal": ServiceLevel(timedelta(hours=8), timedelta(hours=72)),
    "low": ServiceLevel(timedelta(hours=24), timedelta(hours=168)),
}


@dataclass(frozen=True)
class Deadlines:
    first_response_due: datetime
    resolution_due: datetime


def deadlines(priority: str, opened_at: datetime) -> Deadlines:
    """When a ticket of ``priority`` opened at ``opened_at`` must be answered and resolved."""
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be timezone-aware")
    try:
        level = SLA[priority]
    except KeyError:
        raise ValueError(f"unknown priority {priority!r}") from None
    return Deadlines(opened_at + level.first_response, opened_at + level.resolution)
