"""Life cycles of quotes, contracts and receivables as pure rules (table-tested).

Quote (方案报价): ``draft → sent → accepted | rejected``; a draft or sent quote whose
``valid_until`` day has passed (business time zone) reads as ``expired`` and cannot be
accepted (409 ``quote_expired``).

Contract (合同订单): ``draft → pending_approval → approved | rejected → signed → completed``;
a rejected contract may be submitted again; ``cancelled`` from any state before completion.
Approval is a list of steps, one approver each, taken in order.

Instalment (回款计划): ``pending → partial → paid``, and ``overdue`` once its due day has
passed (business time) while not fully paid.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from crmkit.errors import Conflict, Forbidden, ValidationFailed

# -- quotes ------------------------------------------------------------------------------------

QUOTE_STATUSES = ("draft", "sent", "accepted", "rejected", "expired")
QUOTE_MOVES = {"send": ({"draft"}, "sent"), "accept": ({"sent"}, "accepted"),
               "reject": ({"sent"}, "rejected")}


def quote_status(stored: str, valid_until: date | None, today: date) -> str:
    """What a quote reads as: an open (draft/sent) quote past its validity is ``expired``."""
    if stored in ("draft", "sent") and valid_until is not None and today > valid_until:
        return "expired"
    return stored


def quote_move(action: str, stored: str, valid_until: date | None, today: date) -> str:
    """The status after ``action``; 409 ``quote_expired`` / ``invalid_quote_status``."""
    allowed, target = QUOTE_MOVES[action]
    current = quote_status(stored, valid_until, today)
    if current == "expired" and action in ("send", "accept"):
        raise Conflict("quote_expired", "the quote's validity has passed",
                       {"valid_until": valid_until.isoformat() if valid_until else None})
    if current not in allowed:
        raise Conflict("invalid_quote_status", f"a {current} quote cannot be {target}",
                       {"status": current, "action": action})
    return target


# -- contracts ---------------------------------------------------------------------------------

CONTRACT_STATUSES = ("draft", "pending_approval", "approved", "rejected", "signed",
                     "completed", "cancelled")
CONTRACT_MOVES = {
    "submit": ({"draft", "rejected"}, "pending_approval"),
    "sign": ({"approved"}, "signed"),
    "complete": ({"signed"}, "completed"),
    "cancel": ({"draft", "pending_approval", "approved", "rejected", "signed"}, "cancelled"),
}


def contract_move(action: str, status: str) -> str:
    allowed, target = CONTRACT_MOVES[action]
    if status not in allowed:
        code = "contract_not_approved" if action == "sign" else "invalid_contract_status"
        raise Conflict(code, f"a {status} contract cannot be {target}",
                       {"status": status, "action": action})
    return target


def approval_levels(total: Decimal, second_level_above: Decimal) -> int:
    """One approver (the owner's manager); two above the configured amount."""
    return 2 if total > second_level_above else 1


def plan_approvers(owner_id: str, approvers: list[str | None], levels: int) -> list[str]:
    """The approvers of the steps; 422 when a level has none, 409 when one is the owner."""
    chosen = [a for a in approvers if a][:levels]
    if len(chosen) < levels:
        raise ValidationFailed("approver_missing",
                               f"this contract needs {levels} approval level(s)",
                               [{"field": "approvers", "message": f"{levels} approver(s) needed"}])
    if owner_id in chosen:
        raise Conflict("own_contract", "nobody approves their own contract",
                       {"approver_id": owner_id})
    if len(set(chosen)) != len(chosen):
        raise ValidationFailed("approver_missing", "the approval levels need distinct approvers",
                               [{"field": "approvers", "message": "duplicate approver"}])
    return chosen


def check_approver(actor_id: str | None, owner_id: str, current_approver: str | None) -> None:
    """Only the current step's approver decides; never the owner (409 before 403)."""
    if actor_id is not None and actor_id == owner_id:
        raise Conflict("own_contract", "nobody approves their own contract", None)
    if current_approver is None:
        raise Conflict("invalid_contract_status", "the contract awaits no approval", None)
    if actor_id != current_approver:
        raise Forbidden("not_your_approval", "another user approves this step",
                        {"approver_id": current_approver})


# -- receivables -------------------------------------------------------------------------------

INSTALMENT_STATUSES = ("pending", "partial", "paid", "overdue")
AGEING_BUCKETS = ("0-30", "31-60", "61-90", ">90")


def is_overdue(due_date: date, today: date, amount: Decimal, paid: Decimal) -> bool:
    return today > due_date and paid < amount


def instalment_status(due_date: date, today: date, amount: Decimal, paid: Decimal) -> str:
    if paid >= amount:
        return "paid"
    if today > due_date:
        return "overdue"
    return "partial" if paid > 0 else "pending"


def check_plan(total: Decimal, instalments: list[tuple[date, Decimal]]) -> None:
    """Instalments positive, due dates distinct-ordered, summing to the contract total."""
    problems = []
    for i, (_, amount) in enumerate(instalments):
        if amount <= 0:
            problems.append({"field": f"instalments.{i}.amount", "message": "must be positive"})
    if not instalments:
        problems.append({"field": "instalments", "message": "at least one instalment"})
    planned = sum((a for _, a in instalments), Decimal("0.00"))
    if not problems and planned != total:
        problems.append({"field": "instalments",
                         "message": f"the instalments sum to {planned:.2f}, "
                                    f"the contract total is {total:.2f}"})
    if problems:
        raise ValidationFailed("invalid_receivable_plan", "the receivable plan is not valid",
                               problems)


def check_payment(amount: Decimal, outstanding: Decimal) -> None:
    if amount <= 0:
        raise ValidationFailed("validation_error", "a payment must be positive",
                               [{"field": "amount", "message": "must be greater than 0"}])
    if amount > outstanding:
        raise Conflict("overpayment", "the payment is more than what is due",
                       {"outstanding": f"{outstanding:.2f}", "amount": f"{amount:.2f}"})


def ageing_bucket(days_overdue: int) -> str:
    if days_overdue <= 30:
        return "0-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return ">90"


def check_invoice(amount: Decimal, tax: Decimal, invoiced: Decimal, total: Decimal) -> None:
    if amount <= 0 or tax < 0 or tax > amount:
        raise ValidationFailed("validation_error", "invalid invoice amounts",
                               [{"field": "amount", "message": "amount > 0, 0 ≤ tax ≤ amount"}])
    if invoiced + amount > total:
        raise Conflict("invoice_exceeds_contract", "invoices would exceed the contract total",
                       {"invoiced": f"{invoiced:.2f}", "total": f"{total:.2f}"})
