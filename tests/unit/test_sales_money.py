"""Money arithmetic of quotes and contracts: Decimal, ROUND_HALF_UP to cents (tables)."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from crmkit.errors import ValidationFailed
from services.sales.domain.money import LineIn, cents, compute, line_amounts


@pytest.mark.parametrize(("value", "expected"), [
    ("0.005", "0.01"), ("0.004", "0.00"), ("1.015", "1.02"), ("1.025", "1.03"),
    ("2.675", "2.68"), ("-0.005", "-0.01"), ("10", "10.00"), ("99999.995", "100000.00"),
])
def test_cents_rounds_half_up(value, expected):
    assert cents(D(value)) == D(expected)


@pytest.mark.parametrize(("quantity", "price", "discount", "gross", "off", "amount"), [
    ("1", "100.00", "0", "100.00", "0.00", "100.00"),
    ("3", "33.33", "0", "99.99", "0.00", "99.99"),
    ("2", "10.00", "0.15", "20.00", "3.00", "17.00"),
    ("1", "0.10", "0.05", "0.10", "0.01", "0.09"),          # 0.005 off rounds up to a cent
    ("1.5", "19.99", "0", "29.99", "0.00", "29.99"),        # 29.985 → 29.99
    ("7", "14.29", "0.333333", "100.03", "33.34", "66.69"),
    ("1", "100.00", "1", "100.00", "100.00", "0.00"),       # a free line
    ("0.001", "0.01", "0", "0.00", "0.00", "0.00"),
])
def test_line_amounts(quantity, price, discount, gross, off, amount):
    got = line_amounts(LineIn(D(quantity), D(price), D(discount)))
    assert (got.gross, got.discount, got.amount) == (D(gross), D(off), D(amount))


@pytest.mark.parametrize(("lines", "tax_rate", "subtotal", "discount", "tax", "total"), [
    ([("2", "100.00", "0")], "0", "200.00", "0.00", "0.00", "200.00"),
    ([("2", "100.00", "0")], "0.13", "200.00", "0.00", "26.00", "226.00"),
    ([("1", "99.99", "0.1"), ("3", "0.35", "0")], "0.13", "101.04", "10.00", "11.84",
     "102.88"),
    ([("1", "0.05", "0")], "0.13", "0.05", "0.00", "0.01", "0.06"),  # 0.0065 → 0.01
    ([("10", "9999.99", "0.05"), ("1", "500.00", "0.2")], "0.06", "100499.90", "5100.00",
     "5723.99", "101123.89"),  # 4999.995 off → 5000.00
])
def test_document_totals(lines, tax_rate, subtotal, discount, tax, total):
    totals = compute([LineIn(D(q), D(p), D(d)) for q, p, d in lines], D(tax_rate))
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (
        D(subtotal), D(discount), D(tax), D(total))
    assert totals.total == totals.subtotal - totals.discount + totals.tax
    assert sum(a.amount for a in totals.lines) == totals.subtotal - totals.discount


@pytest.mark.parametrize(("lines", "tax_rate", "fields"), [
    ([], "0", ["lines"]),
    ([("0", "1.00", "0")], "0", ["lines.0.quantity"]),
    ([("-1", "1.00", "0")], "0", ["lines.0.quantity"]),
    ([("1", "-0.01", "0")], "0", ["lines.0.unit_price"]),
    ([("1", "1.00", "1.5")], "0", ["lines.0.discount"]),
    ([("1", "1.00", "-0.1")], "0", ["lines.0.discount"]),
    ([("1", "1.00", "0")], "13", ["tax_rate"]),
    ([("1", "1.00", "0"), ("0", "-1", "2")], "-1",
     ["lines.1.quantity", "lines.1.unit_price", "lines.1.discount", "tax_rate"]),
])
def test_bad_amounts_name_every_problem(lines, tax_rate, fields):
    with pytest.raises(ValidationFailed) as err:
        compute([LineIn(D(q), D(p), D(d)) for q, p, d in lines], D(tax_rate))
    assert err.value.code == "invalid_amounts"
    assert [d["field"] for d in err.value.details] == fields
