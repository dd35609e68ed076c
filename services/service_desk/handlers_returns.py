"""Use cases of returns (退货流程) and of the ``contract_lines`` projection they check."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.models import money
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.sequences import document_number, next_value
from crmkit.uow import UnitOfWork
from crmkit.validation import choice, page_limit, parse
from services.service_desk import events
from services.service_desk.domain import returns as rules
from services.service_desk.models import (
    Contract,
    ContractLine,
    DocumentSequence,
    Return,
    ReturnLine,
)
from services.service_desk.schemas import RefundInput, ReturnCreate

REQUESTERS = ("admin", "manager", "sales", "service")
DECIDERS = ("admin", "manager", "service", "finance")  # approve, reject, receive, ...


def next_document_number(session, prefix: str) -> str:
    year = timeutil.business_day(timeutil.now()).year
    value = next_value(session, DocumentSequence, DocumentSequence.key,
                       DocumentSequence.last_value, f"{prefix}-{year}")
    return document_number(prefix, year, value)


def _qty(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def dump_return(r: Return, lines: list[ReturnLine]) -> dict:
    return {
        "id": r.id, "number": r.number, "contract_id": r.contract_id,
        "customer_id": r.customer_id, "status": r.status, "outcome": r.outcome,
        "owner_id": r.owner_id, "team_id": r.team_id, "contract_owner_id": r.contract_owner_id,
        "total_value": money(r.total_value), "refund_amount": money(r.refund_amount),
        "note": r.note,
        "lines": [{"line_id": ln.line_id, "quantity": _qty(ln.quantity),
                   "unit_price": money(ln.unit_price), "amount": money(ln.amount),
                   "reason": ln.reason} for ln in lines],
        "created_at": timeutil.iso(r.created_at), "updated_at": timeutil.iso(r.updated_at),
    }


def _lines_of(session, return_ids: list[str]) -> dict[str, list[ReturnLine]]:
    grouped: dict[str, list[ReturnLine]] = {rid: [] for rid in return_ids}
    if return_ids:
        for line in session.execute(sa.select(ReturnLine).where(
                ReturnLine.return_id.in_(return_ids)).order_by(ReturnLine.id)).scalars():
            grouped[line.return_id].append(line)
    return grouped


def _visible(principal: Principal):
    return visible(principal, Return.owner_id, Return.contract_owner_id)


def _load(uow: UnitOfWork, principal: Principal, return_id: str, lock: bool = False) -> Return:
    query = sa.select(Return).where(Return.id == str(return_id), _visible(principal))
    if lock:
        query = query.with_for_update()
    ret = uow.session.execute(query).scalar_one_or_none()
    if ret is None:
        raise NotFound("return_not_found", "return not found", {"return_id": return_id})
    return ret


def _returned_so_far(session, contract_id: str, exclude: str | None = None) -> dict:
    """Quantities per line that counted returns of ``contract_id`` already took back."""
    query = (sa.select(ReturnLine.line_id, ReturnLine.quantity, Return.status, Return.outcome)
             .join(Return, Return.id == ReturnLine.return_id)
             .where(Return.contract_id == contract_id))
    if exclude:
        query = query.where(Return.id != exclude)
    totals: dict[str, Decimal] = {}
    for line_id, quantity, status, outcome in session.execute(query):
        if rules.counts(status, outcome):
            totals[line_id] = totals.get(line_id, Decimal(0)) + Decimal(quantity)
    return totals


def _check_quantities(session, contract: Contract, requested: list[tuple[str, Decimal]],
                      exclude: str | None = None) -> dict[str, ContractLine]:
    lines = {ln.line_id: ln for ln in session.execute(sa.select(ContractLine).where(
        ContractLine.contract_id == contract.id)).scalars()}
    sold = {line_id: Decimal(ln.quantity) for line_id, ln in lines.items()}
    problems = rules.quantity_problems(sold, _returned_so_far(session, contract.id, exclude),
                                       requested)
    if problems:
        code = problems[0]["code"]
        raise ValidationFailed(code, problems[0]["message"], problems)
    return lines


def _lock_contract(session, contract_id: str) -> Contract | None:
    """The contract row, locked: concurrent returns of one contract are checked in turn."""
    return session.execute(sa.select(Contract).where(Contract.id == contract_id)
                           .with_for_update()).scalar_one_or_none()


def create_return(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*REQUESTERS)
    if principal.user_id is None:
        raise Forbidden("forbidden", "a return needs a user as its owner")
    spec = parse(ReturnCreate, data)
    session, now = uow.session, timeutil.now()
    contract = _lock_contract(session, spec.contract_id)
    if contract is None:
        raise ValidationFailed("unknown_contract", "no signed contract with this id",
                               [{"field": "contract_id", "message": "unknown or not signed"}])
    if contract.customer_id != spec.customer_id:
        raise ValidationFailed("contract_customer_mismatch",
                               "the contract belongs to another customer",
                               [{"field": "customer_id", "message": "not the contract's"}])
    requested = [(ln.line_id, ln.quantity) for ln in spec.lines]
    lines = _check_quantities(session, contract, requested)
    ret = Return(number=next_document_number(session, rules.NUMBER_PREFIX),
                 contract_id=contract.id, customer_id=contract.customer_id, status="requested",
                 owner_id=principal.user_id, team_id=principal.team_id,
                 contract_owner_id=contract.owner_id, note=spec.note, total_value=Decimal(0),
                 created_at=now, updated_at=now)
    session.add(ret)
    session.flush()
    rows, total = [], Decimal(0)
    for ln in spec.lines:
        price = Decimal(lines[ln.line_id].unit_price)
        amount = (price * ln.quantity).quantize(Decimal("0.01"))
        total += amount
        rows.append(ReturnLine(return_id=ret.id, line_id=ln.line_id, quantity=ln.quantity,
                               unit_price=price, amount=amount, reason=ln.reason))
    session.add_all(rows)
    ret.total_value = total
    session.flush()
    uow.emit(events.RETURN_EVENTS["request"], {
        **events.return_summary(ret),
        "lines": [{"line_id": r.line_id, "quantity": _qty(r.quantity),
                   "amount": money(r.amount), "reason": r.reason} for r in rows]})
    return dump_return(ret, rows)


def act_on_return(uow: UnitOfWork, principal: Principal, return_id: str, action: str,
                  data: dict | None = None) -> dict:
    """approve / reject / receive / refund {amount} / replace / close."""
    if action not in rules.TRANSITIONS:
        raise ValidationFailed("validation_error", f"unknown action {action!r}")
    principal.require_role(*DECIDERS)
    session = uow.session
    probe = _load(uow, principal, return_id)
    if action == "approve":  # lock the contract first, as create_return does
        _lock_contract(session, probe.contract_id)
    ret = _load(uow, principal, return_id, lock=True)
    target = rules.next_status(ret.status, action)
    if target is None:
        raise Conflict("invalid_transition", f"cannot {action} a return that is {ret.status}",
                       {"status": ret.status, "action": action})
    lines = _lines_of(session, [ret.id])[ret.id]
    extra: dict = {}
    if action == "approve":
        contract = session.get(Contract, ret.contract_id)
        _check_quantities(session, contract, [(ln.line_id, Decimal(ln.quantity))
                                              for ln in lines], exclude=ret.id)
    elif action == "refund":
        spec = parse(RefundInput, data or {})
        problem = rules.refund_problem(spec.amount, Decimal(ret.total_value))
        if problem:
            raise ValidationFailed("refund_exceeds_value", problem,
                                   [{"field": "amount", "message": problem}])
        ret.refund_amount = spec.amount
        extra["refund_amount"] = money(spec.amount)
    if action in ("reject", "refund", "replace"):
        ret.outcome = target
    ret.status, ret.updated_at = target, timeutil.now()
    session.flush()
    uow.emit(events.RETURN_EVENTS[action], {**events.return_summary(ret), **extra})
    return dump_return(ret, lines)


def get_return(uow: UnitOfWork, principal: Principal, return_id: str) -> dict:
    ret = _load(uow, principal, return_id)
    return dump_return(ret, _lines_of(uow.session, [ret.id])[ret.id])


def list_returns(uow: UnitOfWork, principal: Principal, customer_id=None, status=None,
                 contract_id=None, cursor=None, limit=None) -> dict:
    query = sa.select(Return).where(_visible(principal))
    if customer_id:
        query = query.where(Return.customer_id == str(customer_id))
    if contract_id:
        query = query.where(Return.contract_id == str(contract_id))
    if status:
        query = query.where(Return.status == choice(status, rules.STATUSES, "status"))
    page = paginate(uow.session, query, Return.id, cursor, page_limit(limit), lambda r: r)
    grouped = _lines_of(uow.session, [r.id for r in page["items"]])
    return {"items": [dump_return(r, grouped[r.id]) for r in page["items"]],
            "next_cursor": page["next_cursor"]}


def _decimal(value, field: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{field} is not a decimal: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{field} is not finite")
    return result


def project_signed_contract(uow: UnitOfWork, event: dict) -> bool:
    """``contract.signed`` → the local ``contracts`` / ``contract_lines`` projection.

    Idempotent twice over: the caller checks the inbox, and a contract already projected
    (the same contract signed event re-published under a new id) is left as it is."""
    data = event.get("data") or {}
    contract_id = data.get("contract_id")
    if not contract_id or not data.get("customer_id"):
        raise ValueError("contract.signed without contract_id or customer_id")
    session = uow.session
    if session.get(Contract, contract_id) is not None:
        return False
    signed_at = timeutil.parse_time(data.get("signed_at")) if data.get("signed_at") else None
    session.add(Contract(
        id=contract_id, number=data.get("number"), customer_id=data["customer_id"],
        owner_id=data.get("owner_id"), team_id=data.get("team_id"),
        total=_decimal(data["total"], "total") if data.get("total") is not None else None,
        currency=data.get("currency"), signed_at=signed_at))
    session.flush()
    for line in data.get("lines") or []:
        session.add(ContractLine(
            line_id=line["line_id"], contract_id=contract_id, product_id=line.get("product_id"),
            sku=line.get("sku"), name=line.get("name"),
            quantity=_decimal(line["quantity"], "quantity"),
            unit_price=_decimal(line["unit_price"], "unit_price"),
            amount=_decimal(line["amount"], "amount") if line.get("amount") is not None
            else None))
    session.flush()
    return True
