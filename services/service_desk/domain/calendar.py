"""Business hours (工作时间) as pure arithmetic: add business time to a moment, measure the
business time between two moments, and move a deadline past a pause.

A ``BusinessCalendar`` is a time zone (Asia/Shanghai by default), the working periods of a
working day (``09:00–12:00`` and ``13:00–18:00`` with a lunch break, or one ``09:00–18:00``),
the working weekdays (Mon–Fri), a set of holidays (法定节假日: days off even on a weekday)
and a set of make-up working days (调休: a Saturday or Sunday that is worked). Nights,
weekends, holidays and the lunch break do not count; everything is computed in the local
time zone and returned in UTC.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ZERO = timedelta(0)
MAX_DAYS = 3660  # a target is never ten years of business time away


def parse_clock(value: str) -> time:
    """``"09:00"`` → ``time(9, 0)``; ValueError otherwise."""
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def parse_periods(value: str) -> tuple[tuple[time, time], ...]:
    """``"09:00-12:00,13:00-18:00"`` → ordered, non-overlapping periods of a working day."""
    periods = []
    for part in value.split(","):
        start, _, end = part.strip().partition("-")
        periods.append((parse_clock(start), parse_clock(end)))
    return validate_periods(periods)


def validate_periods(periods: Iterable[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    periods = tuple(periods)
    if not periods:
        raise ValueError("a working day needs at least one period")
    previous_end = None
    for start, end in periods:
        if start >= end:
            raise ValueError(f"period {start}-{end} ends before it starts")
        if previous_end is not None and start < previous_end:
            raise ValueError("periods must be in order and must not overlap")
        previous_end = end
    return periods


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    periods: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(18)))
    weekdays: frozenset[int] = frozenset(range(5))  # Monday=0 … Friday=4
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # 调休: weekend days that are worked

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays

    def _spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of ``day`` as aware local datetimes (none on a day off)."""
        if not self.is_working_day(day):
            return []
        return [(datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
                for start, end in self.periods]

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The moment ``amount`` of business time after ``start`` (UTC).

        A zero amount inside working hours is ``start`` itself; outside them, or a positive
        amount that ends exactly where a period ends, the end of the last counted period.
        """
        _aware(start)
        if amount < ZERO:
            raise ValueError("amount must not be negative")
        local = start.astimezone(self.tz)
        remaining = amount
        day = local.date()
        for _ in range(MAX_DAYS):
            for span_start, span_end in self._spans(day):
                if local >= span_end:
                    continue
                begin = max(local, span_start)
                available = span_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError("no working time within ten years: check the calendar")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from ``start`` to ``end`` (zero when ``end`` is not after ``start``)."""
        _aware(start)
        _aware(end)
        if end <= start:
            return ZERO
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = ZERO
        day = local_start.date()
        while day <= local_end.date():
            for span_start, span_end in self._spans(day):
                begin, finish = max(span_start, local_start), min(span_end, local_end)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def between_excluding(self, start: datetime, end: datetime,
                          pauses: Iterable[tuple[datetime, datetime | None]]) -> timedelta:
        """Business time from ``start`` to ``end`` minus the business time of the pauses
        inside it (a pause still running has ``None`` as its end and lasts until ``end``)."""
        total = self.between(start, end)
        for paused_from, paused_to in pauses:
            lo = max(start, paused_from)
            hi = min(end, paused_to or end)
            total -= self.between(lo, hi)
        return max(total, ZERO)

    def add_minutes(self, start: datetime, minutes: int | float) -> datetime:
        return self.add(start, timedelta(minutes=minutes))

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return self.between(start, end) / timedelta(minutes=1)

    def resume(self, due: datetime, paused_at: datetime, resumed_at: datetime) -> datetime:
        """A deadline moved past a pause: the business time that was left when the pause
        began is counted again from the moment work resumed. A deadline already passed
        when the pause began stays where it was (it was breached)."""
        if due <= paused_at:
            return due
        return self.add(resumed_at, self.between(paused_at, due))


def _aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
