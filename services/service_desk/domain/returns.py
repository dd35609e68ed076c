"""Returns (退货流程) against a signed contract's lines, as pure rules.

::

    requested ──approve──▶ approved ──receive──▶ received ──refund──▶ refunded ──close──▶ closed
        │                                            └─────replace──▶ replaced ──close──▶ closed
        └──reject──▶ rejected ──close──▶ closed

A line may be returned up to what was sold minus what earlier returns already took back:
approved, received, refunded and replaced returns (and closed ones that got that far) count;
requested ones are checked again when approved; rejected ones never count.
"""
from __future__ import annotations

from decimal import Decimal

STATUSES = ("requested", "approved", "rejected", "received", "refunded", "replaced", "closed")
COUNTED = ("approved", "received", "refunded", "replaced")
NUMBER_PREFIX = "RT"

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("requested",), "approved"),
    "reject": (("requested",), "rejected"),
    "receive": (("approved",), "received"),
    "refund": (("received",), "refunded"),
    "replace": (("received",), "replaced"),
    "close": (("rejected", "refunded", "replaced"), "closed"),
}


def next_status(status: str, action: str) -> str | None:
    sources, target = TRANSITIONS[action]
    return target if status in sources else None


def counts(status: str, outcome: str | None) -> bool:
    """Whether a return in ``status`` (with its ``outcome`` once closed) takes goods back."""
    if status == "closed":
        return outcome in ("refunded", "replaced")
    return status in COUNTED


def quantity_problems(sold: dict[str, Decimal], returned: dict[str, Decimal],
                      requested: list[tuple[str, Decimal]]) -> list[dict]:
    """What is wrong with returning ``requested`` ``[(line_id, quantity)]`` of a contract that
    sold ``sold[line_id]`` of which ``returned[line_id]`` already came back. Empty: fine."""
    problems: list[dict] = []
    seen: set[str] = set()
    if not requested:
        problems.append({"field": "lines", "message": "at least one line is needed",
                         "code": "no_lines"})
    for index, (line_id, quantity) in enumerate(requested):
        where = f"lines.{index}"
        if line_id in seen:
            problems.append({"field": f"{where}.line_id", "message": "line listed twice",
                             "code": "duplicate_line"})
            continue
        seen.add(line_id)
        if line_id not in sold:
            problems.append({"field": f"{where}.line_id",
                             "message": "not a line of this contract", "code": "unknown_line"})
            continue
        if quantity <= 0:
            problems.append({"field": f"{where}.quantity", "message": "must be positive",
                             "code": "invalid_quantity"})
            continue
        left = sold[line_id] - returned.get(line_id, Decimal(0))
        if quantity > left:
            problems.append({"field": f"{where}.quantity",
                             "message": f"only {left} left to return on this line",
                             "code": "quantity_exceeds_remaining", "remaining": str(left)})
    return problems


def refund_problem(amount: Decimal, returned_value: Decimal) -> str | None:
    """None when ``amount`` may be refunded for goods worth ``returned_value``."""
    if amount <= 0:
        return "the refund must be positive"
    if amount > returned_value:
        return f"the refund cannot exceed the returned goods' value {returned_value}"
    return None
