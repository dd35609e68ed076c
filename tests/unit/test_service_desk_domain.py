"""Unit tests (no broker, no database) of the service desk's pure rules: SLA and ticket numbers."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.service_desk.domain import sla, tickets

OPENED = datetime(2026, 3, 9, 1, 30, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize("priority, first_response_hours, resolution_hours", [
    ("urgent", 1, 4),
    ("high", 4, 24),
    ("normal", 8, 72),
    ("low", 24, 168),
])
def test_sla_deadlines_per_priority(priority, first_response_hours, resolution_hours):
    due = sla.deadlines(priority, OPENED)
    assert due.first_response_due == OPENED + timedelta(hours=first_response_hours)
    assert due.resolution_due == OPENED + timedelta(hours=resolution_hours)


@pytest.mark.parametrize("opened, priority, first_response, resolution", [
    # across midnight, month end, year end and a leap day: wall-clock hours
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "urgent",
     datetime(2027, 1, 1, 0, 30, tzinfo=UTC),
     datetime(2027, 1, 1, 3, 30, tzinfo=UTC)),
    (datetime(2028, 2, 28, 12, 0, tzinfo=UTC), "normal",
     datetime(2028, 2, 28, 20, 0, tzinfo=UTC),
     datetime(2028, 3, 2, 12, 0, tzinfo=UTC)),
    (datetime(2026, 1, 31, 18, 0, tzinfo=UTC), "low",
     datetime(2026, 2, 1, 18, 0, tzinfo=UTC),
     datetime(2026, 2, 7, 18, 0, tzinfo=UTC)),
    # an opening time given in Beijing time is the same instant
    (datetime(2026, 3, 9, 9, 30, tzinfo=SHANGHAI), "high",
     datetime(2026, 3, 9, 5, 30, tzinfo=UTC),
     datetime(2026, 3, 10, 1, 30, tzinfo=UTC)),
])
def test_sla_deadlines_on_calendar_boundaries(opened, priority, first_response, resolution):
    due = sla.deadlines(priority, opened)
    assert due.first_response_due == first_response
    assert due.resolution_due == resolution


def test_every_priority_has_a_service_level_and_tighter_means_sooner():
    assert set(sla.SLA) == set(tickets.PRIORITIES)
    ordered = [sla.SLA[p] for p in ("urgent", "high", "normal", "low")]
    for faster, slower in zip(ordered, ordered[1:], strict=False):
        assert faster.first_response < slower.first_response
        assert faster.resolution < slower.resolution
    for level in ordered:
        assert level.first_response < level.resolution


@pytest.mark.parametrize("priority, opened", [
    ("critical", OPENED),
    ("", OPENED),
    ("normal", datetime(2026, 3, 9, 1, 30)),  # naive: refused, times carry an offset
])
def test_sla_refuses_bad_input(priority, opened):
    with pytest.raises(ValueError):
        sla.deadlines(priority, opened)


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
