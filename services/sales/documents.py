"""Use cases of the sales documents: products, quotes, contracts, receivables, invoices,
billing details, and the reaction to merged customers.

Like ``handlers``: each takes the unit of work and the caller's principal, applies the pure
rules of ``domain/`` and reports every state change as an event on the unit of work.
"""
from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.models import money
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.sequences import document_number, next_value
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.sales import events
from services.sales.domain import documents as rules
from services.sales.domain import money as calc
from services.sales.models import (
    ApprovalStep,
    BillingInfo,
    Contract,
    ContractLine,
    DocumentCounter,
    Instalment,
    Invoice,
    Opportunity,
    Payment,
    Product,
    Quote,
    QuoteLine,
)
from services.sales.schemas import (
    BillingInput,
    ContractCreate,
    InvoiceCreate,
    PaymentCreate,
    ProductCreate,
    ProductUpdate,
    QuoteCreate,
    ReceivablePlanCreate,
)

SELLERS = ("admin", "manager", "sales")
SUPERVISORS = ("admin", "manager")
FINANCE = ("admin", "finance")
CONTRACT_PREFIX = "HT"
DEFAULT_SECOND_APPROVAL_AMOUNT = Decimal("100000.00")


def second_approval_amount() -> Decimal:
    """``SALES_SECOND_APPROVAL_AMOUNT``: totals above it need a second approval level."""
    raw = os.environ.get("SALES_SECOND_APPROVAL_AMOUNT")
    return Decimal(raw) if raw else DEFAULT_SECOND_APPROVAL_AMOUNT


def _today():
    return timeutil.business_day(timeutil.now())


def _date(value):
    return value.isoformat() if value else None


def _not_found(kind: str, ident) -> NotFound:
    return NotFound(f"{kind}_not_found", f"{kind.replace('_', ' ')} not found",
                    {f"{kind}_id": ident})


# -- dumps -------------------------------------------------------------------------------------

def dump_product(p: Product) -> dict:
    return {"id": p.id, "sku": p.sku, "name": p.name, "unit": p.unit,
            "list_price": money(p.list_price), "category": p.category, "active": p.active,
            "created_at": timeutil.iso(p.created_at), "updated_at": timeutil.iso(p.updated_at)}


def _dump_line(li) -> dict:
    return {"id": li.id, "product_id": li.product_id, "sku": li.sku, "name": li.name,
            "unit": li.unit, "quantity": events.quantity(li.quantity),
            "unit_price": money(li.unit_price), "discount_rate": events.quantity(li.discount_rate),
            "gross": money(li.gross), "discount": money(li.discount), "amount": money(li.amount)}


def _amounts(doc) -> dict:
    return {"currency": doc.currency, "tax_rate": events.quantity(doc.tax_rate),
            "subtotal": money(doc.subtotal), "discount": money(doc.discount),
            "tax": money(doc.tax), "total": money(doc.total)}


def dump_quote(q: Quote, lines=None) -> dict:
    out = {"id": q.id, "customer_id": q.customer_id, "opportunity_id": q.opportunity_id,
           "status": rules.quote_status(q.status, q.valid_until, _today()), **_amounts(q),
           "valid_until": _date(q.valid_until), "owner_id": q.owner_id, "team_id": q.team_id,
           "sent_at": timeutil.iso(q.sent_at), "decided_at": timeutil.iso(q.decided_at),
           "created_at": timeutil.iso(q.created_at), "updated_at": timeutil.iso(q.updated_at)}
    if lines is not None:
        out["lines"] = [_dump_line(li) for li in lines]
    return out


def _dump_step(s: ApprovalStep) -> dict:
    return {"id": s.id, "round": s.round, "level": s.level, "approver_id": s.approver_id,
            "decision": s.decision, "comment": s.comment,
            "requested_at": timeutil.iso(s.requested_at),
            "decided_at": timeutil.iso(s.decided_at)}


def dump_contract(c: Contract, lines=None, steps=None) -> dict:
    out = {"id": c.id, "number": c.number, "customer_id": c.customer_id, "quote_id": c.quote_id,
           "opportunity_id": c.opportunity_id, "title": c.title, "status": c.status,
           **_amounts(c), "owner_id": c.owner_id, "team_id": c.team_id,
           "submitted_at": timeutil.iso(c.submitted_at),
           "approved_at": timeutil.iso(c.approved_at), "signed_at": timeutil.iso(c.signed_at),
           "completed_at": timeutil.iso(c.completed_at),
           "cancelled_at": timeutil.iso(c.cancelled_at),
           "created_at": timeutil.iso(c.created_at), "updated_at": timeutil.iso(c.updated_at)}
    if lines is not None:
        out["lines"] = [_dump_line(li) for li in lines]
    if steps is not None:
        out["approval_steps"] = [_dump_step(s) for s in steps]
    return out


def dump_instalment(i: Instalment, contract: Contract) -> dict:
    return {"id": i.id, "contract_id": i.contract_id, "contract_number": contract.number,
            "customer_id": contract.customer_id, "owner_id": contract.owner_id,
            "team_id": contract.team_id, "position": i.position, "due_date": _date(i.due_date),
            "amount": money(i.amount), "paid_amount": money(i.paid_amount),
            "outstanding": money(i.amount - i.paid_amount),
            "status": rules.instalment_status(i.due_date, _today(), i.amount, i.paid_amount),
            "overdue_at": timeutil.iso(i.overdue_at)}


def dump_payment(p: Payment, contract: Contract) -> dict:
    return {"id": p.id, "instalment_id": p.instalment_id, "contract_id": p.contract_id,
            "customer_id": contract.customer_id, "amount": money(p.amount),
            "paid_at": timeutil.iso(p.paid_at), "method": p.method, "reference": p.reference,
            "recorded_by": p.recorded_by, "created_at": timeutil.iso(p.created_at)}


def dump_invoice(v: Invoice, contract: Contract) -> dict:
    return {"id": v.id, "contract_id": v.contract_id, "customer_id": contract.customer_id,
            "number": v.number, "amount": money(v.amount), "tax": money(v.tax),
            "issued_on": _date(v.issued_on), "issued_by": v.issued_by,
            "created_at": timeutil.iso(v.created_at)}


def dump_billing(b: BillingInfo) -> dict:
    return {"customer_id": b.customer_id, "title": b.title, "tax_id": b.tax_id, "bank": b.bank,
            "account": b.account, "address": b.address, "phone": b.phone,
            "updated_by": b.updated_by, "updated_at": timeutil.iso(b.updated_at)}


# -- products ----------------------------------------------------------------------------------

def create_product(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*SUPERVISORS)
    spec = parse(ProductCreate, data)
    session = uow.session
    if session.execute(sa.select(Product.id).where(Product.sku == spec.sku)).first():
        raise Conflict("sku_taken", "a product with this SKU exists", {"sku": spec.sku})
    product = Product(**spec.model_dump())
    session.add(product)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("sku_taken", "a product with this SKU exists", {"sku": spec.sku}) from None
    uow.emit(events.PRODUCT_CREATED, events.product_summary(product))
    return dump_product(product)


def list_products(uow: UnitOfWork, principal: Principal, active=None, category=None, q=None,
                  cursor=None, limit=None) -> dict:
    query = sa.select(Product)
    if active is not None:
        query = query.where(Product.active.is_(bool(active)))
    if category:
        query = query.where(Product.category == str(category))
    if q:
        like = f"%{str(q).strip()}%"
        query = query.where(sa.or_(Product.name.ilike(like), Product.sku.ilike(like)))
    return paginate(uow.session, query, Product.id, cursor, page_limit(limit), dump_product)


def get_product(uow: UnitOfWork, principal: Principal, product_id: str) -> dict:
    product = uow.session.get(Product, str(product_id))
    if product is None:
        raise _not_found("product", product_id)
    return dump_product(product)


def update_product(uow: UnitOfWork, principal: Principal, product_id: str, data: dict) -> dict:
    principal.require_role(*SUPERVISORS)
    spec = parse(ProductUpdate, data)
    product = uow.session.get(Product, str(product_id), with_for_update=True)
    if product is None:
        raise _not_found("product", product_id)
    changes = spec.model_dump(exclude_unset=True)
    for field in ("name", "unit", "list_price", "active"):
        if field in changes and changes[field] is None:
            raise ValidationFailed("validation_error", f"{field} cannot be null",
                                   [{"field": field, "message": "cannot be null"}])
    changed = {k: v for k, v in changes.items() if getattr(product, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(product, key, value)
        product.updated_at = timeutil.now()
        uow.session.flush()
        uow.emit(events.PRODUCT_UPDATED, {**events.product_summary(product),
                                          "changed": sorted(changed)})
    return dump_product(product)


# -- lines -------------------------------------------------------------------------------------

def _priced_lines(session, lines) -> list[tuple[Product, calc.LineIn]]:
    """Each input line with its product; 422 ``unknown_product`` naming the bad lines."""
    ids = {line.product_id for line in lines}
    products = {p.id: p for p in session.execute(
        sa.select(Product).where(Product.id.in_(ids))).scalars()}
    problems = []
    for i, line in enumerate(lines):
        product = products.get(line.product_id)
        if product is None:
            problems.append({"field": f"lines.{i}.product_id", "message": "unknown product"})
        elif not product.active:
            problems.append({"field": f"lines.{i}.product_id", "message": "inactive product"})
    if problems:
        raise ValidationFailed("unknown_product", "a line names an unknown or inactive product",
                               problems)
    return [(products[line.product_id],
             calc.LineIn(quantity=line.quantity,
                         unit_price=products[line.product_id].list_price
                         if line.unit_price is None else line.unit_price,
                         discount=line.discount)) for line in lines]


def _line_rows(model, owner_field: str, owner_id: str, priced, totals) -> list:
    return [model(**{owner_field: owner_id}, position=i, product_id=product.id, sku=product.sku,
                  name=product.name, unit=product.unit, quantity=line.quantity,
                  unit_price=line.unit_price, discount_rate=line.discount, gross=amounts.gross,
                  discount=amounts.discount, amount=amounts.amount)
            for i, ((product, line), amounts) in enumerate(zip(priced, totals.lines,
                                                               strict=True))]


def _set_totals(doc, totals: calc.Totals) -> None:
    doc.subtotal, doc.discount = totals.subtotal, totals.discount
    doc.tax, doc.total = totals.tax, totals.total


def _check_opportunity(session, principal, opportunity_id, customer_id) -> None:
    if not opportunity_id:
        return
    opp = session.execute(sa.select(Opportunity).where(
        Opportunity.id == opportunity_id, visible(principal, Opportunity.owner_id))
    ).scalar_one_or_none()
    if opp is None or opp.customer_id != customer_id:
        raise ValidationFailed("unknown_opportunity",
                               "no such opportunity of this customer",
                               [{"field": "opportunity_id", "message": "unknown opportunity"}])


def _owner(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden("forbidden", "a sales document needs a user as its owner")
    return principal.user_id


def _may_act(principal: Principal, owner_id: str) -> None:
    """The owner acts on a document; others in scope need a supervising role."""
    if owner_id != principal.user_id:
        principal.require_role(*SUPERVISORS)


# -- quotes ------------------------------------------------------------------------------------

def _quote_lines(session, quote_id):
    return list(session.execute(sa.select(QuoteLine).where(QuoteLine.quote_id == quote_id)
                                .order_by(QuoteLine.position)).scalars())


def _load_quote(uow, principal, quote_id, *, lock=False) -> Quote:
    query = sa.select(Quote).where(Quote.id == str(quote_id), visible(principal, Quote.owner_id))
    if lock:
        query = query.with_for_update()
    quote = uow.session.execute(query).scalar_one_or_none()
    if quote is None:
        raise _not_found("quote", quote_id)
    return quote


def create_quote(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*SELLERS)
    owner = _owner(principal)
    spec = parse(QuoteCreate, data)
    session = uow.session
    _check_opportunity(session, principal, spec.opportunity_id, spec.customer_id)
    priced = _priced_lines(session, spec.lines)
    totals = calc.compute([line for _, line in priced], spec.tax_rate)
    if spec.valid_until is not None and spec.valid_until < _today():
        raise ValidationFailed("validation_error", "valid_until is in the past",
                               [{"field": "valid_until", "message": "in the past"}])
    now = timeutil.now()
    quote = Quote(customer_id=spec.customer_id, opportunity_id=spec.opportunity_id,
                  status="draft", currency=spec.currency, tax_rate=spec.tax_rate,
                  valid_until=spec.valid_until, owner_id=owner, team_id=principal.team_id,
                  created_at=now, updated_at=now)
    _set_totals(quote, totals)
    session.add(quote)
    session.flush()
    rows = _line_rows(QuoteLine, "quote_id", quote.id, priced, totals)
    session.add_all(rows)
    session.flush()
    uow.emit(events.QUOTE_CREATED, events.quote_summary(quote))
    return dump_quote(quote, rows)


def get_quote(uow: UnitOfWork, principal: Principal, quote_id: str) -> dict:
    quote = _load_quote(uow, principal, quote_id)
    return dump_quote(quote, _quote_lines(uow.session, quote.id))


def list_quotes(uow: UnitOfWork, principal: Principal, customer_id=None, status=None,
                opportunity_id=None, cursor=None, limit=None) -> dict:
    query = sa.select(Quote).where(visible(principal, Quote.owner_id))
    if customer_id:
        query = query.where(Quote.customer_id == str(customer_id))
    if opportunity_id:
        query = query.where(Quote.opportunity_id == str(opportunity_id))
    if status:
        if status not in rules.QUOTE_STATUSES:
            raise ValidationFailed("validation_error", "unknown quote status",
                                   [{"field": "status", "message": "unknown status"}])
        today = _today()
        open_ = Quote.status.in_(("draft", "sent"))
        lapsed = sa.and_(open_, Quote.valid_until.is_not(None), Quote.valid_until < today)
        if status == "expired":
            query = query.where(lapsed)
        elif status in ("draft", "sent"):
            query = query.where(Quote.status == status, sa.not_(lapsed))
        else:
            query = query.where(Quote.status == status)
    return paginate(uow.session, query, Quote.id, cursor, page_limit(limit), dump_quote)


QUOTE_EVENTS = {"send": events.QUOTE_SENT, "accept": events.QUOTE_ACCEPTED,
                "reject": events.QUOTE_REJECTED}


def move_quote(uow: UnitOfWork, principal: Principal, quote_id: str, action: str,
               reason: str | None = None) -> dict:
    if action not in QUOTE_EVENTS:
        raise ValidationFailed("validation_error", "unknown action",
                               [{"field": "action", "message": "send, accept or reject"}])
    quote = _load_quote(uow, principal, quote_id, lock=True)
    _may_act(principal, quote.owner_id)
    quote.status = rules.quote_move(action, quote.status, quote.valid_until, _today())
    now = timeutil.now()
    if action == "send":
        quote.sent_at = now
    else:
        quote.decided_at = now
    quote.updated_at = now
    uow.session.flush()
    data = events.quote_summary(quote)
    if action == "reject":
        data["reason"] = (reason or "").strip()[:500] or None
    uow.emit(QUOTE_EVENTS[action], data)
    return dump_quote(quote, _quote_lines(uow.session, quote.id))


# -- contracts ---------------------------------------------------------------------------------

def _contract_lines(session, contract_id):
    return list(session.execute(sa.select(ContractLine).where(
        ContractLine.contract_id == contract_id).order_by(ContractLine.position)).scalars())


def _steps(session, contract_id):
    return list(session.execute(sa.select(ApprovalStep).where(
        ApprovalStep.contract_id == contract_id).order_by(ApprovalStep.round,
                                                          ApprovalStep.level)).scalars())


def _load_contract(uow, principal, contract_id, *, lock=False) -> Contract:
    query = sa.select(Contract).where(Contract.id == str(contract_id),
                                      visible(principal, Contract.owner_id))
    if lock:
        query = query.with_for_update()
    contract = uow.session.execute(query).scalar_one_or_none()
    if contract is None:
        raise _not_found("contract", contract_id)
    return contract


def _full(uow, contract) -> dict:
    session = uow.session
    return dump_contract(contract, _contract_lines(session, contract.id),
                         _steps(session, contract.id))


def create_contract(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    """From an accepted quote (its lines and totals copied) or directly with lines."""
    principal.require_role(*SELLERS)
    owner = _owner(principal)
    spec = parse(ContractCreate, data)
    session = uow.session
    now = timeutil.now()
    year = timeutil.business_day(now).year
    if spec.quote_id:
        quote = _load_quote(uow, principal, spec.quote_id, lock=True)
        _may_act(principal, quote.owner_id)
        if quote.status != "accepted":
            raise Conflict("quote_not_accepted", "a contract is made from an accepted quote",
                           {"status": rules.quote_status(quote.status, quote.valid_until,
                                                         _today())})
        if session.execute(sa.select(Contract.id).where(Contract.quote_id == quote.id)).first():
            raise Conflict("contract_exists", "this quote already has a contract",
                           {"quote_id": quote.id})
        contract = Contract(customer_id=quote.customer_id, quote_id=quote.id,
                            opportunity_id=quote.opportunity_id, currency=quote.currency,
                            tax_rate=quote.tax_rate, subtotal=quote.subtotal,
                            discount=quote.discount, tax=quote.tax, total=quote.total)
        owner, team_id = quote.owner_id, quote.team_id  # the quote's owner keeps the deal
        source_lines = _quote_lines(session, quote.id)
    else:
        if not spec.customer_id or not spec.lines:
            raise ValidationFailed("validation_error",
                                   "give a quote_id, or a customer_id with lines",
                                   [{"field": "quote_id", "message": "or customer_id + lines"}])
        _check_opportunity(session, principal, spec.opportunity_id, spec.customer_id)
        priced = _priced_lines(session, spec.lines)
        totals = calc.compute([line for _, line in priced], spec.tax_rate)
        contract = Contract(customer_id=spec.customer_id, opportunity_id=spec.opportunity_id,
                            currency=spec.currency, tax_rate=spec.tax_rate)
        team_id = principal.team_id
        _set_totals(contract, totals)
        source_lines = None
    value = next_value(session, DocumentCounter, DocumentCounter.key,
                       DocumentCounter.last_value, f"{CONTRACT_PREFIX}-{year}")
    contract.number = document_number(CONTRACT_PREFIX, year, value)
    contract.title = spec.title
    contract.status, contract.owner_id, contract.team_id = "draft", owner, team_id
    contract.created_at = contract.updated_at = now
    session.add(contract)
    try:
        session.flush()
    except IntegrityError:  # a concurrent contract of the same quote
        raise Conflict("contract_exists", "this quote already has a contract") from None
    if source_lines is not None:
        rows = [ContractLine(contract_id=contract.id, position=li.position,
                             product_id=li.product_id, sku=li.sku, name=li.name, unit=li.unit,
                             quantity=li.quantity, unit_price=li.unit_price,
                             discount_rate=li.discount_rate, gross=li.gross,
                             discount=li.discount, amount=li.amount) for li in source_lines]
    else:
        rows = _line_rows(ContractLine, "contract_id", contract.id, priced, totals)
    session.add_all(rows)
    session.flush()
    uow.emit(events.CONTRACT_CREATED, events.contract_summary(contract))
    return dump_contract(contract, rows, [])


def get_contract(uow: UnitOfWork, principal: Principal, contract_id: str) -> dict:
    """In the caller's scope, or to any approver of one of its steps (who must review it)."""
    session = uow.session
    contract = session.execute(sa.select(Contract).where(
        Contract.id == str(contract_id), sa.or_(
            visible(principal, Contract.owner_id),
            Contract.id.in_(sa.select(ApprovalStep.contract_id).where(
                ApprovalStep.approver_id == principal.user_id))))).scalar_one_or_none()
    if contract is None:
        raise _not_found("contract", contract_id)
    return _full(uow, contract)


def list_contracts(uow: UnitOfWork, principal: Principal, customer_id=None, status=None,
                   cursor=None, limit=None) -> dict:
    query = sa.select(Contract).where(visible(principal, Contract.owner_id))
    if customer_id:
        query = query.where(Contract.customer_id == str(customer_id))
    if status:
        if status not in rules.CONTRACT_STATUSES:
            raise ValidationFailed("validation_error", "unknown contract status",
                                   [{"field": "status", "message": "unknown status"}])
        query = query.where(Contract.status == status)
    return paginate(uow.session, query, Contract.id, cursor, page_limit(limit), dump_contract)


def submit_contract(uow: UnitOfWork, principal: Principal, contract_id: str,
                    approvers: list | None = None) -> dict:
    """Ask for approval; ``approvers`` (level 1, level 2) come from the gateway's org chart."""
    contract = _load_contract(uow, principal, contract_id, lock=True)
    _may_act(principal, contract.owner_id)
    target = rules.contract_move("submit", contract.status)
    levels = rules.approval_levels(contract.total, second_approval_amount())
    chosen = rules.plan_approvers(contract.owner_id,
                                  [None if a is None else str(a) for a in approvers or []],
                                  levels)
    session, now = uow.session, timeutil.now()
    last_round = session.execute(sa.select(sa.func.max(ApprovalStep.round)).where(
        ApprovalStep.contract_id == contract.id)).scalar() or 0
    steps = [ApprovalStep(contract_id=contract.id, round=last_round + 1, level=i + 1,
                          approver_id=approver, requested_at=now if i == 0 else None)
             for i, approver in enumerate(chosen)]
    session.add_all(steps)
    contract.status, contract.current_step = target, 1
    contract.submitted_at = contract.updated_at = now
    session.flush()
    summary = events.contract_summary(contract)
    uow.emit(events.CONTRACT_SUBMITTED, {**summary, "approver_id": chosen[0],
                                         "approvers": chosen, "submitted_at": timeutil.iso(now)})
    uow.emit(events.CONTRACT_APPROVAL_REQUESTED, {**summary, "approver_id": chosen[0],
                                                  "level": 1, "levels": len(chosen)})
    return _full(uow, contract)


def decide_contract(uow: UnitOfWork, principal: Principal, contract_id: str, decision: str,
                    comment: str | None = None) -> dict:
    """The current step's approver approves or rejects (a rejection needs a comment)."""
    if decision not in ("approve", "reject"):
        raise ValidationFailed("validation_error", "approve or reject",
                               [{"field": "decision", "message": "approve or reject"}])
    session = uow.session
    contract = session.execute(sa.select(Contract).where(Contract.id == str(contract_id))
                               .with_for_update()).scalar_one_or_none()
    step = None
    if contract is not None and contract.status == "pending_approval":
        step = session.execute(sa.select(ApprovalStep).where(
            ApprovalStep.contract_id == contract.id, ApprovalStep.decision.is_(None),
            ApprovalStep.level == contract.current_step).order_by(ApprovalStep.round.desc())
        ).scalars().first()
    is_approver = step is not None and step.approver_id == principal.user_id
    if contract is None or not (is_approver or principal.can_see_owner(contract.owner_id)
                                or principal.user_id == contract.owner_id):
        raise _not_found("contract", contract_id)
    if contract.status != "pending_approval":
        raise Conflict("invalid_contract_status", f"a {contract.status} contract awaits no "
                                                  "approval", {"status": contract.status})
    rules.check_approver(principal.user_id, contract.owner_id,
                         step.approver_id if step else None)
    comment = (comment or "").strip() or None
    if decision == "reject" and comment is None:
        raise ValidationFailed("comment_required", "a rejection needs a comment",
                               [{"field": "comment", "message": "required"}])
    if comment is not None and len(comment) > 1000:
        raise ValidationFailed("validation_error", "the comment is too long",
                               [{"field": "comment", "message": "at most 1000 characters"}])
    now = timeutil.now()
    step.decision = "approved" if decision == "approve" else "rejected"
    step.comment, step.decided_at = comment, now
    contract.updated_at = now
    summary_extra = {"approver_id": step.approver_id, "level": step.level, "comment": comment}
    if decision == "reject":
        contract.status, contract.current_step = "rejected", None
        session.flush()
        uow.emit(events.CONTRACT_REJECTED, {**events.contract_summary(contract),
                                            **summary_extra})
        return _full(uow, contract)
    following = session.execute(sa.select(ApprovalStep).where(
        ApprovalStep.contract_id == contract.id, ApprovalStep.round == step.round,
        ApprovalStep.level == step.level + 1)).scalar_one_or_none()
    if following is not None:
        following.requested_at = now
        contract.current_step = following.level
        session.flush()
        uow.emit(events.CONTRACT_APPROVAL_REQUESTED, {
            **events.contract_summary(contract), "approver_id": following.approver_id,
            "level": following.level, "previous_approver_id": step.approver_id})
        return _full(uow, contract)
    contract.status, contract.current_step, contract.approved_at = "approved", None, now
    session.flush()
    uow.emit(events.CONTRACT_APPROVED, {**events.contract_summary(contract), **summary_extra,
                                        "approved_at": timeutil.iso(now)})
    return _full(uow, contract)


CONTRACT_EVENTS = {"sign": events.CONTRACT_SIGNED, "complete": events.CONTRACT_COMPLETED,
                   "cancel": events.CONTRACT_CANCELLED}


def move_contract(uow: UnitOfWork, principal: Principal, contract_id: str, action: str,
                  reason: str | None = None) -> dict:
    if action not in CONTRACT_EVENTS:
        raise ValidationFailed("validation_error", "unknown action",
                               [{"field": "action", "message": "sign, complete or cancel"}])
    contract = _load_contract(uow, principal, contract_id, lock=True)
    _may_act(principal, contract.owner_id)
    contract.status = rules.contract_move(action, contract.status)
    now = timeutil.now()
    contract.updated_at = now
    contract.current_step = None
    setattr(contract, {"sign": "signed_at", "complete": "completed_at",
                       "cancel": "cancelled_at"}[action], now)
    uow.session.flush()
    if action == "sign":
        data = events.contract_signed(contract, _contract_lines(uow.session, contract.id))
    else:
        data = {**events.contract_summary(contract), f"{contract.status}_at": timeutil.iso(now)}
        if action == "cancel":
            data["reason"] = (reason or "").strip()[:500] or None
    uow.emit(CONTRACT_EVENTS[action], data)
    return _full(uow, contract)


# -- receivables -------------------------------------------------------------------------------

PLANNABLE = ("approved", "signed", "completed")


def _instalments(session, contract_id):
    return list(session.execute(sa.select(Instalment).where(
        Instalment.contract_id == contract_id).order_by(Instalment.position)).scalars())


def create_receivable_plan(uow: UnitOfWork, principal: Principal, contract_id: str,
                           data: dict) -> dict:
    principal.require_role(*SELLERS, "finance")
    spec = parse(ReceivablePlanCreate, data)
    contract = _load_contract(uow, principal, contract_id, lock=True)
    if contract.status not in PLANNABLE:
        raise Conflict("contract_not_approved", "a receivable plan needs an approved contract",
                       {"status": contract.status})
    session = uow.session
    if session.execute(sa.select(Instalment.id).where(
            Instalment.contract_id == contract.id)).first():
        raise Conflict("receivable_plan_exists", "this contract already has a receivable plan",
                       {"contract_id": contract.id})
    items = sorted((i.due_date, i.amount) for i in spec.instalments)
    rules.check_plan(contract.total, items)
    now = timeutil.now()
    rows = [Instalment(contract_id=contract.id, position=n + 1, due_date=due, amount=amount,
                       paid_amount=Decimal("0.00"), status="pending", created_at=now,
                       updated_at=now) for n, (due, amount) in enumerate(items)]
    session.add_all(rows)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("receivable_plan_exists", "this contract already has a receivable plan",
                       {"contract_id": contract.id}) from None
    uow.emit(events.RECEIVABLE_PLANNED, {
        **events.contract_summary(contract),
        "instalments": [{"instalment_id": r.id, "due_date": _date(r.due_date),
                         "amount": money(r.amount)} for r in rows]})
    return _plan(contract, rows)


def _plan(contract: Contract, rows) -> dict:
    paid = sum((r.paid_amount for r in rows), Decimal("0.00"))
    return {"contract_id": contract.id, "number": contract.number, "total": money(contract.total),
            "paid": money(paid), "outstanding": money(contract.total - paid) if rows else None,
            "instalments": [dump_instalment(r, contract) for r in rows]}


def get_receivable_plan(uow: UnitOfWork, principal: Principal, contract_id: str) -> dict:
    contract = _load_contract(uow, principal, contract_id)
    return _plan(contract, _instalments(uow.session, contract.id))


def _contract_dump(session, dump):
    def run(row):
        return dump(row, session.get(Contract, row.contract_id))
    return run


def list_receivable_plans(uow: UnitOfWork, principal: Principal, customer_id=None,
                          contract_id=None, status=None, cursor=None, limit=None) -> dict:
    """Instalments (of every plan in scope), newest first; ``status`` as they read today."""
    query = sa.select(Instalment).join(Contract, Contract.id == Instalment.contract_id).where(
        visible(principal, Contract.owner_id))
    if customer_id:
        query = query.where(Contract.customer_id == str(customer_id))
    if contract_id:
        query = query.where(Instalment.contract_id == str(contract_id))
    if status:
        if status not in rules.INSTALMENT_STATUSES:
            raise ValidationFailed("validation_error", "unknown instalment status",
                                   [{"field": "status", "message": "unknown status"}])
        today, unpaid = _today(), Instalment.paid_amount < Instalment.amount
        query = query.where({
            "paid": Instalment.paid_amount >= Instalment.amount,
            "overdue": sa.and_(unpaid, Instalment.due_date < today,
                               Contract.status != "cancelled"),
            "partial": sa.and_(unpaid, Instalment.due_date >= today,
                               Instalment.paid_amount > 0),
            "pending": sa.and_(Instalment.due_date >= today, Instalment.paid_amount == 0),
        }[status])
    return paginate(uow.session, query, Instalment.id, cursor, page_limit(limit),
                    _contract_dump(uow.session, dump_instalment))


def record_payment(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*SELLERS, "finance")
    spec = parse(PaymentCreate, data)
    session = uow.session
    inst = session.execute(sa.select(Instalment).where(Instalment.id == spec.instalment_id)
                           .with_for_update()).scalar_one_or_none()
    contract = None if inst is None else session.get(Contract, inst.contract_id)
    if inst is None or not principal.can_see_owner(contract.owner_id) and \
            principal.user_id != contract.owner_id:
        raise _not_found("instalment", spec.instalment_id)
    if contract.status == "cancelled":
        raise Conflict("invalid_contract_status", "the contract is cancelled",
                       {"status": contract.status})
    rules.check_payment(spec.amount, inst.amount - inst.paid_amount)
    paid_at = timeutil.parse_time(spec.paid_at)
    now = timeutil.now()
    if paid_at > now + timeutil.days(1):
        raise ValidationFailed("validation_error", "paid_at is in the future",
                               [{"field": "paid_at", "message": "in the future"}])
    payment = Payment(instalment_id=inst.id, contract_id=contract.id, amount=spec.amount,
                      paid_at=paid_at, method=spec.method, reference=spec.reference,
                      recorded_by=principal.user_id, created_at=now)
    inst.paid_amount = inst.paid_amount + spec.amount
    inst.status = rules.instalment_status(inst.due_date, _today(), inst.amount, inst.paid_amount)
    inst.updated_at = now
    session.add(payment)
    session.flush()
    uow.emit(events.PAYMENT_RECEIVED, {
        **events.instalment_summary(inst, contract), "payment_id": payment.id,
        "amount": money(payment.amount), "instalment_amount": money(inst.amount),
        "paid_at": timeutil.iso(paid_at), "method": payment.method,
        "total": money(contract.total)})
    return dump_payment(payment, contract)


def _list_of_contracts(uow: UnitOfWork, principal: Principal, model, dump, customer_id,
                       contract_id, cursor, limit) -> dict:
    """A page of ``model`` rows (payments, invoices) of the contracts the caller may see."""
    query = sa.select(model).join(Contract, Contract.id == model.contract_id).where(
        visible(principal, Contract.owner_id))
    if customer_id:
        query = query.where(Contract.customer_id == str(customer_id))
    if contract_id:
        query = query.where(model.contract_id == str(contract_id))
    return paginate(uow.session, query, model.id, cursor, page_limit(limit),
                    _contract_dump(uow.session, dump))


def list_payments(uow: UnitOfWork, principal: Principal, customer_id=None, contract_id=None,
                  cursor=None, limit=None) -> dict:
    return _list_of_contracts(uow, principal, Payment, dump_payment, customer_id, contract_id,
                              cursor, limit)


def mark_overdue(uow: UnitOfWork, batch: int = 500) -> int:
    """Mark instalments whose due day passed (business time) unpaid as overdue, each once.

    Replica-safe: candidates are locked ``FOR UPDATE SKIP LOCKED`` (a row another replica is
    marking is left to it) and the conditional UPDATE (``overdue_at IS NULL``) lets exactly
    one run take a row; only that run reports ``receivable.overdue``.
    """
    session, now = uow.session, timeutil.now()
    today = timeutil.business_day(now)
    candidates = session.execute(sa.select(Instalment.id).join(
        Contract, Contract.id == Instalment.contract_id).where(
        Instalment.overdue_at.is_(None), Instalment.due_date < today,
        Instalment.paid_amount < Instalment.amount, Contract.status != "cancelled")
        .order_by(Instalment.due_date, Instalment.id).limit(batch)
        .with_for_update(skip_locked=True, of=Instalment)).scalars().all()
    marked = 0
    for inst_id in candidates:
        taken = session.execute(sa.update(Instalment).where(
            Instalment.id == inst_id, Instalment.overdue_at.is_(None),
            Instalment.paid_amount < Instalment.amount).values(
            status="overdue", overdue_at=now, updated_at=now)).rowcount
        if taken != 1:
            continue
        inst = session.get(Instalment, inst_id)
        session.refresh(inst)
        contract = session.get(Contract, inst.contract_id)
        uow.emit(events.RECEIVABLE_OVERDUE, {
            **events.instalment_summary(inst, contract),
            "days_overdue": (today - inst.due_date).days})
        marked += 1
    return marked


def ageing(uow: UnitOfWork, principal: Principal, owner_id=None, team_id=None) -> dict:
    """Outstanding overdue amounts per owner and team in buckets of days overdue."""
    today = _today()
    query = sa.select(Instalment, Contract).join(
        Contract, Contract.id == Instalment.contract_id).where(
        visible(principal, Contract.owner_id), Contract.status != "cancelled",
        Instalment.paid_amount < Instalment.amount, Instalment.due_date < today)
    if owner_id:
        query = query.where(Contract.owner_id == str(owner_id))
    if team_id:
        query = query.where(Contract.team_id == str(team_id))
    zero = Decimal("0.00")
    rows: dict[tuple, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(rules.AGEING_BUCKETS, zero))
    totals = dict.fromkeys(rules.AGEING_BUCKETS, zero)
    for inst, contract in uow.session.execute(query):
        bucket = rules.ageing_bucket((today - inst.due_date).days)
        outstanding = inst.amount - inst.paid_amount
        rows[(contract.owner_id, contract.team_id)][bucket] += outstanding
        totals[bucket] += outstanding
    items = [{"owner_id": owner, "team_id": team,
              "buckets": {k: money(v) for k, v in buckets.items()},
              "total": money(sum(buckets.values(), zero))}
             for (owner, team), buckets in sorted(rows.items(), key=lambda kv: str(kv[0]))]
    return {"as_of": today.isoformat(), "buckets": list(rules.AGEING_BUCKETS), "items": items,
            "totals": {k: money(v) for k, v in totals.items()},
            "total": money(sum(totals.values(), zero))}


# -- invoices ----------------------------------------------------------------------------------

INVOICEABLE = ("signed", "completed")


def issue_invoice(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*FINANCE)
    spec = parse(InvoiceCreate, data)
    contract = _load_contract(uow, principal, spec.contract_id, lock=True)
    if contract.status not in INVOICEABLE:
        raise Conflict("contract_not_signed", "invoices are issued for signed contracts",
                       {"status": contract.status})
    session = uow.session
    invoiced = session.execute(sa.select(sa.func.coalesce(sa.func.sum(Invoice.amount), 0))
                               .where(Invoice.contract_id == contract.id)).scalar()
    rules.check_invoice(spec.amount, spec.tax, Decimal(invoiced), contract.total)
    if session.execute(sa.select(Invoice.id).where(Invoice.number == spec.number)).first():
        raise Conflict("invoice_number_taken", "an invoice with this number exists",
                       {"number": spec.number})
    invoice = Invoice(contract_id=contract.id, number=spec.number, amount=spec.amount,
                      tax=spec.tax, issued_on=spec.issued_on, issued_by=principal.user_id,
                      created_at=timeutil.now())
    session.add(invoice)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("invoice_number_taken", "an invoice with this number exists",
                       {"number": spec.number}) from None
    uow.emit(events.INVOICE_ISSUED, {
        **events.contract_summary(contract), "invoice_id": invoice.id, "number": invoice.number,
        "contract_number": contract.number, "amount": money(invoice.amount),
        "tax": money(invoice.tax), "issued_on": _date(invoice.issued_on),
        "invoiced_total": money(Decimal(invoiced) + invoice.amount)})
    return dump_invoice(invoice, contract)


def list_invoices(uow: UnitOfWork, principal: Principal, customer_id=None, contract_id=None,
                  cursor=None, limit=None) -> dict:
    return _list_of_contracts(uow, principal, Invoice, dump_invoice, customer_id, contract_id,
                              cursor, limit)


# -- billing details ---------------------------------------------------------------------------

def put_billing(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    """Create or replace a customer's billing details (finance and admins)."""
    principal.require_role(*FINANCE)
    spec = parse(BillingInput, data)
    session, now = uow.session, timeutil.now()
    billing = session.get(BillingInfo, str(customer_id), with_for_update=True)
    if billing is None:
        billing = BillingInfo(customer_id=str(customer_id), created_at=now)
        session.add(billing)
    for key, value in spec.model_dump().items():
        setattr(billing, key, value)
    billing.updated_by, billing.updated_at = principal.user_id, now
    session.flush()
    uow.emit(events.BILLING_UPDATED, {"customer_id": billing.customer_id,
                                      "tax_id": billing.tax_id, "title": billing.title,
                                      "updated_by": principal.user_id})
    return dump_billing(billing)


def get_billing(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    billing = uow.session.get(BillingInfo, str(customer_id))
    if billing is None:
        raise NotFound("billing_not_found", "no billing details for this customer",
                       {"customer_id": customer_id})
    return dump_billing(billing)


# -- customer merges ---------------------------------------------------------------------------

def repoint_customer(uow: UnitOfWork, event: dict) -> dict:
    """``customer.merged``: the merged customer's documents now belong to the survivor."""
    data = event.get("data") or {}
    survivor, merged = data.get("survivor_id"), data.get("merged_id")
    if not survivor or not merged or survivor == merged:
        return {}
    session, counts = uow.session, {}
    for model in (Opportunity, Quote, Contract):
        counts[model.__tablename__] = session.execute(sa.update(model).where(
            model.customer_id == merged).values(customer_id=survivor)).rowcount
    theirs = session.get(BillingInfo, merged)
    if theirs is not None:
        if session.get(BillingInfo, survivor) is None:
            session.execute(sa.update(BillingInfo).where(BillingInfo.customer_id == merged)
                            .values(customer_id=survivor))
        else:  # the survivor's own billing details win
            session.delete(theirs)
        counts["billing_info"] = 1
    return counts
