"""Life cycles of quotes, contracts and instalments as pure rules (tables)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from crmkit.errors import Conflict, Forbidden, ValidationFailed
from services.sales.domain import documents as rules

DAY = date(2026, 3, 31)


@pytest.mark.parametrize(("stored", "valid_until", "today", "reads"), [
    ("draft", None, DAY, "draft"),
    ("sent", DAY, DAY, "sent"),                       # valid through its last day
    ("sent", DAY, date(2026, 4, 1), "expired"),
    ("draft", DAY, date(2026, 4, 1), "expired"),
    ("accepted", DAY, date(2026, 4, 1), "accepted"),  # decided quotes never expire
    ("rejected", DAY, date(2027, 1, 1), "rejected"),
])
def test_quote_status(stored, valid_until, today, reads):
    assert rules.quote_status(stored, valid_until, today) == reads


@pytest.mark.parametrize(("action", "stored", "valid_until", "today", "outcome"), [
    ("send", "draft", DAY, DAY, "sent"),
    ("accept", "sent", DAY, DAY, "accepted"),
    ("reject", "sent", DAY, DAY, "rejected"),
    ("reject", "sent", DAY, date(2026, 4, 1), "invalid_quote_status"),  # expired
    ("accept", "sent", DAY, date(2026, 4, 1), "quote_expired"),
    ("send", "draft", DAY, date(2026, 4, 1), "quote_expired"),
    ("accept", "draft", None, DAY, "invalid_quote_status"),
    ("send", "sent", None, DAY, "invalid_quote_status"),
    ("accept", "accepted", None, DAY, "invalid_quote_status"),
    ("reject", "accepted", None, DAY, "invalid_quote_status"),
    ("send", "rejected", None, DAY, "invalid_quote_status"),
])
def test_quote_moves(action, stored, valid_until, today, outcome):
    if outcome in rules.QUOTE_STATUSES:
        assert rules.quote_move(action, stored, valid_until, today) == outcome
    else:
        with pytest.raises(Conflict) as err:
            rules.quote_move(action, stored, valid_until, today)
        assert err.value.code == outcome


CONTRACT_TABLE = [
    ("submit", "draft", "pending_approval"), ("submit", "rejected", "pending_approval"),
    ("submit", "pending_approval", "invalid_contract_status"),
    ("submit", "approved", "invalid_contract_status"),
    ("sign", "approved", "signed"), ("sign", "draft", "contract_not_approved"),
    ("sign", "pending_approval", "contract_not_approved"),
    ("sign", "rejected", "contract_not_approved"), ("sign", "signed", "contract_not_approved"),
    ("complete", "signed", "completed"), ("complete", "approved", "invalid_contract_status"),
    ("cancel", "draft", "cancelled"), ("cancel", "signed", "cancelled"),
    ("cancel", "pending_approval", "cancelled"),
    ("cancel", "completed", "invalid_contract_status"),
    ("cancel", "cancelled", "invalid_contract_status"),
]


@pytest.mark.parametrize(("action", "status", "outcome"), CONTRACT_TABLE)
def test_contract_moves(action, status, outcome):
    if outcome in rules.CONTRACT_STATUSES:
        assert rules.contract_move(action, status) == outcome
    else:
        with pytest.raises(Conflict) as err:
            rules.contract_move(action, status)
        assert err.value.code == outcome


@pytest.mark.parametrize(("total", "levels"), [
    ("0.00", 1), ("99999.99", 1), ("100000.00", 1), ("100000.01", 2), ("5000000.00", 2)])
def test_approval_levels(total, levels):
    assert rules.approval_levels(D(total), D("100000.00")) == levels


@pytest.mark.parametrize(("approvers", "levels", "outcome"), [
    (["m1"], 1, ["m1"]),
    (["m1", "m2"], 1, ["m1"]),               # a second level only when the amount needs it
    (["m1", "m2"], 2, ["m1", "m2"]),
    ([None, "m2"], 1, ["m2"]),
    (["m1"], 2, "approver_missing"),
    ([], 1, "approver_missing"),
    (["m1", "m1"], 2, "approver_missing"),
    (["owner"], 1, "own_contract"),
    (["m1", "owner"], 2, "own_contract"),
])
def test_plan_approvers(approvers, levels, outcome):
    if isinstance(outcome, list):
        assert rules.plan_approvers("owner", approvers, levels) == outcome
    else:
        with pytest.raises((Conflict, ValidationFailed)) as err:
            rules.plan_approvers("owner", approvers, levels)
        assert err.value.code == outcome


@pytest.mark.parametrize(("actor", "current", "error", "code"), [
    ("m1", "m1", None, None),
    ("owner", "owner", Conflict, "own_contract"),
    ("owner", "m1", Conflict, "own_contract"),
    ("m2", "m1", Forbidden, "not_your_approval"),
    ("m1", None, Conflict, "invalid_contract_status"),
])
def test_check_approver(actor, current, error, code):
    if error is None:
        rules.check_approver(actor, "owner", current)
    else:
        with pytest.raises(error) as err:
            rules.check_approver(actor, "owner", current)
        assert err.value.code == code


@pytest.mark.parametrize(("today", "amount", "paid", "status"), [
    (date(2026, 3, 30), "100.00", "0.00", "pending"),
    (DAY, "100.00", "0.00", "pending"),             # on the due day: not yet overdue
    (date(2026, 4, 1), "100.00", "0.00", "overdue"),
    (DAY, "100.00", "40.00", "partial"),
    (date(2026, 4, 1), "100.00", "40.00", "overdue"),
    (date(2026, 4, 1), "100.00", "100.00", "paid"),
    (date(2026, 3, 1), "100.00", "100.00", "paid"),
])
def test_instalment_status(today, amount, paid, status):
    assert rules.instalment_status(DAY, today, D(amount), D(paid)) == status
    assert rules.is_overdue(DAY, today, D(amount), D(paid)) == (status == "overdue")


@pytest.mark.parametrize(("amounts", "ok"), [
    (["1000.00"], True), (["300.00", "700.00"], True), (["333.33", "333.33", "333.34"], True),
    (["300.00", "699.99"], False), (["300.00", "700.01"], False), ([], False),
    (["1000.00", "0.00"], False), (["1100.00", "-100.00"], False),
])
def test_plan_sums_to_the_total(amounts, ok):
    items = [(date(2026, 1, i + 1), D(a)) for i, a in enumerate(amounts)]
    if ok:
        rules.check_plan(D("1000.00"), items)
    else:
        with pytest.raises(ValidationFailed) as err:
            rules.check_plan(D("1000.00"), items)
        assert err.value.code == "invalid_receivable_plan"


@pytest.mark.parametrize(("amount", "outstanding", "code"), [
    ("10.00", "10.00", None), ("0.01", "10.00", None), ("10.01", "10.00", "overpayment"),
    ("0.00", "10.00", "validation_error"), ("-1.00", "10.00", "validation_error"),
    ("0.01", "0.00", "overpayment"),
])
def test_payment_rules(amount, outstanding, code):
    if code is None:
        rules.check_payment(D(amount), D(outstanding))
    else:
        with pytest.raises((Conflict, ValidationFailed)) as err:
            rules.check_payment(D(amount), D(outstanding))
        assert err.value.code == code


@pytest.mark.parametrize(("days", "bucket"), [
    (1, "0-30"), (30, "0-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"),
    (91, ">90"), (400, ">90")])
def test_ageing_buckets(days, bucket):
    assert rules.ageing_bucket(days) == bucket


@pytest.mark.parametrize(("amount", "tax", "invoiced", "code"), [
    ("500.00", "57.52", "0.00", None), ("500.00", "0.00", "500.00", None),
    ("500.01", "0.00", "500.00", "invoice_exceeds_contract"),
    ("0.00", "0.00", "0.00", "validation_error"), ("10.00", "11.00", "0.00", "validation_error"),
    ("10.00", "-1.00", "0.00", "validation_error"),
])
def test_invoice_rules(amount, tax, invoiced, code):
    if code is None:
        rules.check_invoice(D(amount), D(tax), D(invoiced), D("1000.00"))
    else:
        with pytest.raises((Conflict, ValidationFailed)) as err:
            rules.check_invoice(D(amount), D(tax), D(invoiced), D("1000.00"))
        assert err.value.code == code
