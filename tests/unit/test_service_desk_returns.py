"""Unit tests of the service desk's return (退货) and work order rules, as tables of cases."""
from __future__ import annotations

from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from services.service_desk.domain import returns, work_orders

SOLD = {"L1": D("10"), "L2": D("2.5")}


@pytest.mark.parametrize("returned, requested, codes", [
    ({}, [("L1", D("10"))], []),  # everything sold comes back
    ({}, [("L1", D("3")), ("L2", D("2.5"))], []),
    ({"L1": D("7")}, [("L1", D("3"))], []),  # exactly what is left
    ({"L1": D("7")}, [("L1", D("3.001"))], ["quantity_exceeds_remaining"]),
    ({}, [("L1", D("11"))], ["quantity_exceeds_remaining"]),
    ({"L2": D("2.5")}, [("L2", D("0.5"))], ["quantity_exceeds_remaining"]),
    ({}, [("L9", D("1"))], ["unknown_line"]),
    ({}, [("L1", D("0"))], ["invalid_quantity"]),
    ({}, [("L1", D("-1"))], ["invalid_quantity"]),
    ({}, [("L1", D("1")), ("L1", D("1"))], ["duplicate_line"]),
    ({}, [], ["no_lines"]),
    ({}, [("L1", D("20")), ("L9", D("1"))], ["quantity_exceeds_remaining", "unknown_line"]),
])
def test_return_quantities(returned, requested, codes):
    problems = returns.quantity_problems(SOLD, returned, requested)
    assert [p["code"] for p in problems] == codes


def test_remaining_quantity_is_reported():
    (problem,) = returns.quantity_problems(SOLD, {"L1": D("8")}, [("L1", D("5"))])
    assert problem["remaining"] == "2" and problem["field"] == "lines.0.quantity"


@pytest.mark.parametrize("status, outcome, counted", [
    ("requested", None, False),  # checked again on approval
    ("approved", None, True), ("received", None, True),
    ("refunded", "refunded", True), ("replaced", "replaced", True),
    ("rejected", "rejected", False),
    ("closed", "refunded", True), ("closed", "replaced", True), ("closed", "rejected", False),
])
def test_which_returns_count(status, outcome, counted):
    assert returns.counts(status, outcome) is counted


@pytest.mark.parametrize("status, action, expected", [
    ("requested", "approve", "approved"), ("requested", "reject", "rejected"),
    ("approved", "receive", "received"), ("received", "refund", "refunded"),
    ("received", "replace", "replaced"), ("refunded", "close", "closed"),
    ("replaced", "close", "closed"), ("rejected", "close", "closed"),
    ("requested", "receive", None), ("approved", "refund", None), ("requested", "close", None),
    ("closed", "approve", None), ("rejected", "approve", None), ("refunded", "replace", None),
])
def test_return_state_machine(status, action, expected):
    assert returns.next_status(status, action) == expected


@pytest.mark.parametrize("amount, value, ok", [
    (D("100.00"), D("100.00"), True), (D("0.01"), D("100.00"), True),
    (D("100.01"), D("100.00"), False), (D("0"), D("100.00"), False),
    (D("-1"), D("100.00"), False),
])
def test_refund_not_above_returned_value(amount, value, ok):
    assert (returns.refund_problem(amount, value) is None) is ok


@pytest.mark.parametrize("status, action, expected", [
    ("scheduled", "start", "in_progress"), ("in_progress", "complete", "completed"),
    ("scheduled", "cancel", "cancelled"), ("in_progress", "cancel", "cancelled"),
    ("scheduled", "complete", None), ("completed", "cancel", None),
    ("cancelled", "start", None),
])
def test_work_order_state_machine(status, action, expected):
    assert work_orders.next_status(status, action) == expected


def test_work_orders_grouped_by_business_day():
    items = [{"id": "b", "scheduled_at": "2026-03-09T16:30:00+00:00"},  # 10 March in Beijing
             {"id": "a", "scheduled_at": "2026-03-09T02:00:00+00:00"},
             {"id": "c", "scheduled_at": "2026-03-09T01:00:00+00:00"}]
    days = work_orders.by_business_day(items, ZoneInfo("Asia/Shanghai"))
    assert [(d["date"], [i["id"] for i in d["items"]]) for d in days] == [
        ("2026-03-09", ["c", "a"]), ("2026-03-10", ["b"])]
