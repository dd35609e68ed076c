"""A reporting period [start, end) split into whole months, whole days and partial edges.

Counts are kept per business day and per business month (time zone
``CRM_TIMEZONE``). A period is answered from the monthly rollup for the whole
months inside it, the daily rollup for the whole days around them, and the detail
rows for the partial days at its edges: any period is exact, a year costs twelve
monthly rows per owner, and at most two partial days are ever scanned.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from crmkit import timeutil

DateRange = tuple[date | None, date | None]  # inclusive; None = unbounded


@dataclass(frozen=True)
class Period:
    start: datetime | None
    end: datetime | None
    months: tuple[DateRange, ...] = ()     # first days of whole months
    days: tuple[DateRange, ...] = ()       # whole days outside those months
    edges: tuple[tuple[datetime, datetime], ...] = ()
    empty: bool = False


def day_start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(timeutil.UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _whole_days(start, end, tz):
    """(first whole day, last whole day, partial edges), or None when no whole day fits."""
    first = last = None
    edges: list[tuple[datetime, datetime]] = []
    if start is not None:
        day = start.astimezone(tz).date()
        first = day if start == day_start(day, tz) else day + timedelta(days=1)
        if first != day:
            edges.append((start, day_start(first, tz)))
    if end is not None:
        day = end.astimezone(tz).date()
        last = day - timedelta(days=1)
        if end != day_start(day, tz):
            edges.append((day_start(day, tz), end))
    if first is not None and last is not None and first > last:
        return None
    return first, last, tuple(edges)


def split(start: datetime | None, end: datetime | None, tz: tzinfo | None = None) -> Period:
    tz = tz or timeutil.business_tz()
    if start is not None and end is not None and start >= end:
        return Period(start, end, empty=True)
    whole = _whole_days(start, end, tz)
    if whole is None:
        return Period(start, end, edges=((start, end),))
    first, last, edges = whole
    m_first = first if first is None or first.day == 1 else next_month(first)
    m_last = last if last is None or next_month(last) - timedelta(days=1) == last \
        else month_start(last) - timedelta(days=1)
    if m_first is not None and m_last is not None and m_first > m_last:
        return Period(start, end, days=((first, last),), edges=edges)
    days = []
    if first is not None and first < m_first:
        days.append((first, m_first - timedelta(days=1)))
    if last is not None and last > m_last:
        days.append((m_last + timedelta(days=1), last))
    months = ((None if m_first is None else month_start(m_first),
               None if m_last is None else month_start(m_last)),)
    return Period(start, end, months=months, days=tuple(days), edges=edges)
