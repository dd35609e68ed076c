"""Time: stored in UTC, calendar days in the business time zone.

``now()`` is the one clock every service reads; tests move it with
``freeze(at)`` instead of sleeping. ``CRM_FAKE_NOW`` (ISO 8601) pins it for a
whole process, which end-to-end tests of day boundaries use.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

UTC = UTC
_frozen: datetime | None = None


def _parse(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"time without offset: {value!r}")
    return dt.astimezone(UTC)


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    fake = os.environ.get("CRM_FAKE_NOW")
    if fake:
        return _parse(fake)
    return datetime.now(UTC)


@contextmanager
def freeze(at: datetime):
    global _frozen
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous


def business_tz() -> ZoneInfo:
    return ZoneInfo(os.environ.get("CRM_TIMEZONE", "Asia/Shanghai"))


def business_day(moment: datetime) -> date:
    return moment.astimezone(business_tz()).date()


def parse_time(value: str | datetime | None) -> datetime | None:
    """Accept an ISO 8601 string with offset (or an aware datetime) → aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("time without offset")
        return value.astimezone(UTC)
    return _parse(value)


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with offset; naive values (SQLite returns them) are UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def days(n: int | float) -> timedelta:
    return timedelta(days=n)
