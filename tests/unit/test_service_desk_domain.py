"""Unit tests (no broker, no database) of the service desk's pure rules: business hours,
SLA deadlines and alerts, the ticket state machine, numbers and automatic assignment."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.service_desk.domain import sla, tickets
from services.service_desk.domain.calendar import BusinessCalendar, parse_periods

CST = ZoneInfo("Asia/Shanghai")
# 2025 National Day (国庆节): 1–8 October off, Sunday 28 September and Saturday 11 October
# worked (调休); New Year's Day 2027 off.
HOLIDAYS = frozenset({date(2025, 10, d) for d in range(1, 9)} | {date(2027, 1, 1)})
WORKDAYS = frozenset({date(2025, 9, 28), date(2025, 10, 11)})
CAL = BusinessCalendar(tz=CST, holidays=HOLIDAYS, workdays=WORKDAYS)  # 9–12, 13–18
NO_LUNCH = BusinessCalendar(tz=CST, periods=((time(9), time(18)),))


def bj(y, mo, d, h=0, mi=0):
    """A Beijing wall-clock time (the calendar's zone)."""
    return datetime(y, mo, d, h, mi, tzinfo=CST)


ADD_CASES = [
    # start (Beijing)              minutes  expected (Beijing)         why
    (bj(2026, 3, 9, 10), 60, bj(2026, 3, 9, 11), "same morning"),
    (bj(2026, 3, 9, 10), 0, bj(2026, 3, 9, 10), "zero inside hours"),
    (bj(2026, 3, 9, 11, 30), 60, bj(2026, 3, 9, 13, 30), "over the lunch break"),
    (bj(2026, 3, 9, 12, 15), 30, bj(2026, 3, 9, 13, 30), "starting in the lunch break"),
    (bj(2026, 3, 9, 9), 180, bj(2026, 3, 9, 12), "ends exactly at the break"),
    (bj(2026, 3, 9, 17, 30), 60, bj(2026, 3, 10, 9, 30), "across the night"),
    (bj(2026, 3, 9, 7), 30, bj(2026, 3, 9, 9, 30), "before opening"),
    (bj(2026, 3, 9, 20), 0, bj(2026, 3, 10, 9), "zero after closing: next opening"),
    (bj(2026, 3, 9, 23, 59), 1, bj(2026, 3, 10, 9, 1), "just before midnight"),
    (bj(2026, 3, 13, 17), 120, bj(2026, 3, 16, 10), "Friday over the weekend"),
    (bj(2026, 3, 14, 10), 30, bj(2026, 3, 16, 9, 30), "opened on a Saturday"),
    (bj(2026, 3, 9, 9), 1440, bj(2026, 3, 11, 18), "three full days"),
    (bj(2025, 9, 30, 17), 120, bj(2025, 10, 9, 10), "over the National Day holidays"),
    (bj(2025, 10, 3, 10), 60, bj(2025, 10, 9, 10), "opened on a holiday (a Friday)"),
    (bj(2025, 9, 26, 17), 120, bj(2025, 9, 28, 10), "a Sunday make-up working day (调休)"),
    (bj(2025, 10, 10, 17, 30), 60, bj(2025, 10, 11, 9, 30), "a Saturday make-up day"),
    (bj(2026, 12, 31, 17), 120, bj(2027, 1, 4, 10), "year end and New Year's Day"),
    (datetime(2026, 3, 9, 2, 0, tzinfo=UTC), 90, bj(2026, 3, 9, 11, 30), "a UTC start"),
]


@pytest.mark.parametrize("start, minutes, expected, why", ADD_CASES)
def test_add_business_minutes(start, minutes, expected, why):
    result = CAL.add_minutes(start, minutes)
    assert result == expected, why
    assert result.tzinfo == UTC


@pytest.mark.parametrize("start, minutes, expected", [
    (bj(2026, 3, 9, 11, 30), 60, bj(2026, 3, 9, 12, 30)),  # no lunch break
    (bj(2026, 3, 9, 17, 30), 60, bj(2026, 3, 10, 9, 30)),
    (bj(2025, 9, 30, 17), 120, bj(2025, 10, 1, 10)),  # no holidays in this calendar
])
def test_add_with_another_calendar(start, minutes, expected):
    assert NO_LUNCH.add_minutes(start, minutes) == expected


BETWEEN_CASES = [
    (bj(2026, 3, 9, 10), bj(2026, 3, 9, 11), 60),
    (bj(2026, 3, 9, 11, 30), bj(2026, 3, 9, 13, 30), 60),
    (bj(2026, 3, 9, 12, 10), bj(2026, 3, 9, 12, 50), 0),  # inside the lunch break
    (bj(2026, 3, 9, 17), bj(2026, 3, 10, 10), 120),
    (bj(2026, 3, 13, 17), bj(2026, 3, 16, 10), 120),
    (bj(2026, 3, 14, 8), bj(2026, 3, 15, 20), 0),  # a weekend
    (bj(2026, 3, 9, 0), bj(2026, 3, 10, 0), 480),  # a whole working day
    (bj(2025, 9, 30, 9), bj(2025, 10, 9, 9), 480),  # only 30 September counts
    (bj(2025, 9, 27, 0), bj(2025, 9, 29, 0), 480),  # only the make-up Sunday counts
    (bj(2026, 3, 9, 11), bj(2026, 3, 9, 10), 0),  # end before start
    (bj(2026, 3, 9, 10), bj(2026, 3, 9, 10), 0),
]


@pytest.mark.parametrize("start, end, minutes", BETWEEN_CASES)
def test_business_minutes_between(start, end, minutes):
    assert CAL.minutes_between(start, end) == minutes


@pytest.mark.parametrize("start, minutes, expected, why", ADD_CASES)
def test_add_then_measure_round_trips(start, minutes, expected, why):
    assert CAL.minutes_between(start, CAL.add_minutes(start, minutes)) == minutes, why


@pytest.mark.parametrize("start, end, pauses, minutes", [
    # an hour waiting on the customer inside one morning
    (bj(2026, 3, 9, 9), bj(2026, 3, 9, 12), [(bj(2026, 3, 9, 10), bj(2026, 3, 9, 11))], 120),
    # waiting over the night: only its business part is removed
    (bj(2026, 3, 9, 9), bj(2026, 3, 10, 12),
     [(bj(2026, 3, 9, 17), bj(2026, 3, 10, 10))], 480 + 180 - 120),
    # a pause still running (no end) lasts until the end of the measure
    (bj(2026, 3, 9, 9), bj(2026, 3, 9, 12), [(bj(2026, 3, 9, 11), None)], 120),
    # a pause outside the measured span changes nothing
    (bj(2026, 3, 9, 9), bj(2026, 3, 9, 12), [(bj(2026, 3, 10, 9), bj(2026, 3, 10, 12))], 180),
    # two pauses
    (bj(2026, 3, 9, 9), bj(2026, 3, 9, 18),
     [(bj(2026, 3, 9, 9), bj(2026, 3, 9, 10)), (bj(2026, 3, 9, 16), bj(2026, 3, 9, 17))], 360),
])
def test_business_time_excluding_pauses(start, end, pauses, minutes):
    assert CAL.between_excluding(start, end, pauses) / timedelta(minutes=1) == minutes


@pytest.mark.parametrize("due, paused_at, resumed_at, expected, why", [
    (bj(2026, 3, 9, 15), bj(2026, 3, 9, 14), bj(2026, 3, 10, 10), bj(2026, 3, 10, 11),
     "the hour left is counted from the resumption"),
    (bj(2026, 3, 13, 17), bj(2026, 3, 13, 16), bj(2026, 3, 16, 9), bj(2026, 3, 16, 10),
     "paused over a weekend"),
    (bj(2026, 3, 10, 10), bj(2026, 3, 9, 19), bj(2026, 3, 10, 8), bj(2026, 3, 10, 10),
     "a pause outside business hours moves nothing"),
    (bj(2026, 3, 9, 10), bj(2026, 3, 9, 11), bj(2026, 3, 9, 14), bj(2026, 3, 9, 10),
     "a deadline already passed when the pause began stays"),
    (bj(2025, 9, 30, 17), bj(2025, 9, 30, 16), bj(2025, 10, 9, 9), bj(2025, 10, 9, 10),
     "paused over the holidays"),
])
def test_deadline_moves_past_a_pause(due, paused_at, resumed_at, expected, why):
    assert CAL.resume(due, paused_at, resumed_at) == expected, why


@pytest.mark.parametrize("value, periods", [
    ("09:00-18:00", ((time(9), time(18)),)),
    ("09:00-12:00,13:00-18:00", ((time(9), time(12)), (time(13), time(18)))),
    (" 8:30-12:00 , 13:30-17:30 ", ((time(8, 30), time(12)), (time(13, 30), time(17, 30)))),
])
def test_parse_business_hours(value, periods):
    assert parse_periods(value) == periods


@pytest.mark.parametrize("value", ["18:00-09:00", "09:00-13:00,12:00-18:00", "nine-five",
                                   "25:00-26:00"])
def test_parse_business_hours_refuses(value):
    with pytest.raises(ValueError):
        parse_periods(value)


def test_calendar_refuses_naive_times_and_negative_amounts():
    with pytest.raises(ValueError):
        CAL.add(datetime(2026, 3, 9, 10), timedelta(minutes=1))
    with pytest.raises(ValueError):
        CAL.between(datetime(2026, 3, 9, 10), bj(2026, 3, 9, 11))
    with pytest.raises(ValueError):
        CAL.add(bj(2026, 3, 9, 10), timedelta(minutes=-1))


def test_a_calendar_without_working_days_fails_clearly():
    never = BusinessCalendar(tz=CST, weekdays=frozenset())
    with pytest.raises(ValueError):
        never.add_minutes(bj(2026, 3, 9, 10), 1)


# --- SLA ---------------------------------------------------------------------------------

@pytest.mark.parametrize("priority, opened, first, first_warn, resolution, resolution_warn", [
    ("urgent", bj(2026, 3, 9, 10), bj(2026, 3, 9, 11), bj(2026, 3, 9, 10, 48),
     bj(2026, 3, 9, 15), bj(2026, 3, 9, 14, 12)),
    ("high", bj(2026, 3, 13, 16), bj(2026, 3, 16, 11), bj(2026, 3, 16, 10, 12),
     bj(2026, 3, 17, 16), bj(2026, 3, 17, 11, 48)),
    ("normal", bj(2026, 3, 14, 10), bj(2026, 3, 16, 18), bj(2026, 3, 16, 16, 24),
     bj(2026, 3, 18, 18), bj(2026, 3, 18, 13, 12)),
    ("low", bj(2025, 9, 30, 9), bj(2025, 10, 9, 18), bj(2025, 10, 9, 14, 48),
     bj(2025, 10, 13, 18), bj(2025, 10, 11, 18)),  # the make-up Saturday counts
])
def test_sla_deadlines_in_business_hours(priority, opened, first, first_warn, resolution,
                                         resolution_warn):
    due = sla.deadlines(sla.policy_for(priority, "fault"), opened, CAL)
    assert (due.first_response_due, due.first_response_warn_at) == (first, first_warn)
    assert (due.resolution_due, due.resolution_warn_at) == (resolution, resolution_warn)


def test_every_priority_has_a_policy_and_tighter_means_sooner():
    assert set(sla.DEFAULT_POLICIES) == set(tickets.PRIORITIES)
    ordered = [sla.DEFAULT_POLICIES[p] for p in ("urgent", "high", "normal", "low")]
    for faster, slower in zip(ordered, ordered[1:], strict=False):
        assert faster.first_response_minutes < slower.first_response_minutes
        assert faster.resolution_minutes < slower.resolution_minutes


@pytest.mark.parametrize("priority, category, expected", [
    ("high", "complaint", sla.Policy(30, 120)),  # the category's own policy wins
    ("high", "fault", sla.Policy(120, 600)),  # the priority's override
    ("urgent", "fault", sla.DEFAULT_POLICIES["urgent"]),  # no override: the default
])
def test_policy_overrides(priority, category, expected):
    overrides = {("high", "complaint"): sla.Policy(30, 120), ("high", None): sla.Policy(120, 600)}
    assert sla.policy_for(priority, category, overrides) == expected


@pytest.mark.parametrize("first, resolution", [(0, 10), (10, 0), (-5, 10), (60, 30)])
def test_policy_refuses_bad_targets(first, resolution):
    with pytest.raises(ValueError):
        sla.Policy(first, resolution)


def test_sla_refuses_unknown_priority_and_naive_times():
    with pytest.raises(ValueError):
        sla.policy_for("critical", None)
    with pytest.raises(ValueError):
        sla.deadlines(sla.DEFAULT_POLICIES["normal"], datetime(2026, 3, 9, 10), CAL)


WARN, DUE = bj(2026, 3, 9, 10, 48), bj(2026, 3, 9, 11)


@pytest.mark.parametrize("now, levels", [
    (bj(2026, 3, 9, 10, 47), []),
    (WARN, ["warning"]),
    (bj(2026, 3, 9, 10, 59), ["warning"]),
    (DUE, ["breached"]),
    (bj(2026, 3, 10, 9), ["breached"]),
])
def test_alerts_due(now, levels):
    assert sla.alerts_due(now, WARN, DUE) == levels


# --- tickets -----------------------------------------------------------------------------

@pytest.mark.parametrize("status, action, expected", [
    ("open", "start", "in_progress"), ("reopened", "start", "in_progress"),
    ("in_progress", "start", None), ("in_progress", "wait", "waiting"),
    ("waiting", "resume", "in_progress"), ("open", "wait", None),
    ("in_progress", "resolve", "resolved"), ("open", "resolve", None),
    ("waiting", "resolve", None), ("resolved", "close", "closed"),
    ("in_progress", "close", None), ("resolved", "reopen", "reopened"),
    ("closed", "reopen", "reopened"), ("open", "reopen", None), ("closed", "close", None),
])
def test_ticket_state_machine(status, action, expected):
    assert tickets.next_status(status, action) == expected


RESOLVED = datetime(2026, 3, 9, 2, tzinfo=UTC)


@pytest.mark.parametrize("now, days, allowed", [
    (RESOLVED + timedelta(days=1), 7, True),
    (RESOLVED + timedelta(days=7), 7, True),
    (RESOLVED + timedelta(days=7, seconds=1), 7, False),
    (RESOLVED + timedelta(days=2), 1, False),
])
def test_reopen_window(now, days, allowed):
    assert tickets.may_reopen(RESOLVED, now, days) is allowed


@pytest.mark.parametrize("candidates, counts, chosen", [
    (["b", "a", "c"], {"a": 3, "b": 1, "c": 2}, "b"),
    (["b", "a"], {"a": 1, "b": 1}, "a"),  # a tie: the smallest id
    (["a", "z"], {"a": 5}, "z"),  # nobody's open tickets: zero
    (["a", "a", ""], {}, "a"),
    ([], {}, None),
])
def test_least_loaded_assignment(candidates, counts, chosen):
    assert tickets.least_loaded(candidates, counts) == chosen


@pytest.mark.parametrize("year, sequence, number", [
    (2026, 1, "TK-2026-000001"),
    (2026, 42, "TK-2026-000042"),
    (2027, 999999, "TK-2027-999999"),
    (2027, 1000000, "TK-2027-1000000"),
])
def test_ticket_number(year, sequence, number):
    assert tickets.ticket_number(year, sequence) == number


@pytest.mark.parametrize("year, sequence", [(2026, 0), (2026, -1), (0, 1), (10000, 1)])
def test_ticket_number_refuses_out_of_range(year, sequence):
    with pytest.raises(ValueError):
        tickets.ticket_number(year, sequence)


def test_vocabulary():
    assert tickets.CHANNELS == ("phone", "email", "web", "wechat")
    assert tickets.CATEGORIES == ("complaint", "inquiry", "fault", "suggestion")
    assert tickets.NEW_STATUS in tickets.STATUSES
    assert set(tickets.OPEN_STATUSES) < set(tickets.STATUSES)
