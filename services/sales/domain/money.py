"""Money arithmetic of quotes and contracts (pure; Decimal, ROUND_HALF_UP to cents).

A line's ``discount`` is a **rate between 0 and 1** (0.15 = 15% off), applied to the line's
gross ``quantity × unit_price``. Per line: ``gross`` and ``discount`` are rounded to cents,
``amount = gross − discount``. The document: ``subtotal`` = Σ gross, ``discount`` = Σ line
discounts, ``tax = round((subtotal − discount) × tax_rate)``, ``total = subtotal − discount +
tax``. ``tax_rate`` is a rate too (0.13 = 13% VAT). Clients never send totals.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from crmkit.errors import ValidationFailed

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal("1")


def cents(value: Decimal | int | str) -> Decimal:
    """Round to cents, halves away from zero (0.005 → 0.01)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineIn:
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal = ZERO


@dataclass(frozen=True)
class LineAmounts:
    gross: Decimal
    discount: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    lines: tuple[LineAmounts, ...]


def check_line(i: int, line: LineIn) -> list[dict]:
    problems = []
    if line.quantity <= 0:
        problems.append({"field": f"lines.{i}.quantity", "message": "must be greater than 0"})
    if line.unit_price < 0:
        problems.append({"field": f"lines.{i}.unit_price", "message": "must not be negative"})
    if not ZERO <= line.discount <= ONE:
        problems.append({"field": f"lines.{i}.discount",
                         "message": "a rate between 0 and 1 (0.15 = 15% off)"})
    return problems


def line_amounts(line: LineIn) -> LineAmounts:
    gross = cents(line.quantity * line.unit_price)
    discount = cents(gross * line.discount)
    return LineAmounts(gross=gross, discount=discount, amount=gross - discount)


def compute(lines: Iterable[LineIn], tax_rate: Decimal) -> Totals:
    """Totals of a document; 422 ``invalid_amounts`` naming every bad line."""
    lines = list(lines)
    problems: list[dict] = []
    if not lines:
        problems.append({"field": "lines", "message": "at least one line"})
    for i, line in enumerate(lines):
        problems.extend(check_line(i, line))
    if not ZERO <= tax_rate <= ONE:
        problems.append({"field": "tax_rate", "message": "a rate between 0 and 1 (0.13 = 13%)"})
    if problems:
        raise ValidationFailed("invalid_amounts", "the document's amounts are not valid",
                               problems)
    amounts = tuple(line_amounts(line) for line in lines)
    subtotal = sum((a.gross for a in amounts), ZERO)
    discount = sum((a.discount for a in amounts), ZERO)
    tax = cents((subtotal - discount) * tax_rate)
    return Totals(subtotal=subtotal, discount=discount, tax=tax,
                  total=subtotal - discount + tax, lines=amounts)
