"""Events the sales service emits (exchange ``sales.events``; catalogue: docs/events.md)."""
from __future__ import annotations

from crmkit.models import money
from crmkit.timeutil import iso

PIPELINE_CREATED = "pipeline.created"
OPPORTUNITY_CREATED = "opportunity.created"
OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed"
OPPORTUNITY_WON = "opportunity.won"
OPPORTUNITY_LOST = "opportunity.lost"

# consumed: customer.merged (see CUSTOMER_MERGED below)


def pipeline_created(pipeline, stages) -> dict:
    return {
        "pipeline_id": pipeline.id, "name": pipeline.name, "is_default": pipeline.is_default,
        "stages": [{"name": s.name, "probability": s.probability, "kind": s.kind,
                    "position": s.position} for s in stages],
    }


def opportunity_summary(opp) -> dict:
    """The fields every opportunity event carries (analytics builds its funnel from them)."""
    return {
        "opportunity_id": opp.id, "customer_id": opp.customer_id, "owner_id": opp.owner_id,
        "team_id": opp.team_id, "pipeline_id": opp.pipeline_id, "name": opp.name,
        "amount": money(opp.amount), "currency": opp.currency, "stage": opp.stage,
        "probability": opp.probability, "status": opp.status,
        "expected_close_date": opp.expected_close_date.isoformat()
        if opp.expected_close_date else None,
        "lost_reason": opp.lost_reason, "closed_at": iso(opp.closed_at),
        "created_at": iso(opp.created_at),
    }


def stage_changed(opp, change) -> dict:
    return {
        **opportunity_summary(opp), "from_stage": change.from_stage, "to_stage": change.to_stage,
        "from_probability": change.from_probability, "to_probability": change.to_probability,
        "changed_at": iso(opp.updated_at),
    }

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
QUOTE_CREATED = "quote.created"
QUOTE_SENT = "quote.sent"
QUOTE_ACCEPTED = "quote.accepted"
QUOTE_REJECTED = "quote.rejected"
CONTRACT_CREATED = "contract.created"
CONTRACT_SUBMITTED = "contract.submitted"
CONTRACT_APPROVAL_REQUESTED = "contract.approval_requested"
CONTRACT_APPROVED = "contract.approved"
CONTRACT_REJECTED = "contract.rejected"
CONTRACT_SIGNED = "contract.signed"
CONTRACT_COMPLETED = "contract.completed"
CONTRACT_CANCELLED = "contract.cancelled"
RECEIVABLE_PLANNED = "receivable.planned"
RECEIVABLE_OVERDUE = "receivable.overdue"
PAYMENT_RECEIVED = "payment.received"
INVOICE_ISSUED = "invoice.issued"
BILLING_UPDATED = "billing.updated"

CUSTOMER_MERGED = ("customers", "customer.merged")


def quantity(value) -> str:
    """A quantity or rate as a plain decimal string without trailing zeros ("2", "0.13")."""
    return format(value.normalize(), "f")


def product_summary(p) -> dict:
    return {"product_id": p.id, "sku": p.sku, "name": p.name, "unit": p.unit,
            "list_price": money(p.list_price), "category": p.category, "active": p.active}


def quote_summary(q) -> dict:
    return {"quote_id": q.id, "customer_id": q.customer_id, "opportunity_id": q.opportunity_id,
            "owner_id": q.owner_id, "team_id": q.team_id, "status": q.status,
            "subtotal": money(q.subtotal), "discount": money(q.discount), "tax": money(q.tax),
            "total": money(q.total), "currency": q.currency,
            "valid_until": q.valid_until.isoformat() if q.valid_until else None}


def contract_summary(c) -> dict:
    return {"contract_id": c.id, "number": c.number, "customer_id": c.customer_id,
            "quote_id": c.quote_id, "opportunity_id": c.opportunity_id, "owner_id": c.owner_id,
            "team_id": c.team_id, "status": c.status, "total": money(c.total),
            "currency": c.currency}


def contract_lines(lines) -> list[dict]:
    return [{"line_id": li.id, "product_id": li.product_id, "sku": li.sku, "name": li.name,
             "quantity": quantity(li.quantity),
             "unit_price": money(li.unit_price), "amount": money(li.amount)} for li in lines]


def contract_signed(c, lines) -> dict:
    return {**contract_summary(c), "signed_at": iso(c.signed_at), "lines": contract_lines(lines)}


def instalment_summary(i, contract) -> dict:
    return {"instalment_id": i.id, "contract_id": contract.id, "number": contract.number,
            "customer_id": contract.customer_id, "owner_id": contract.owner_id,
            "team_id": contract.team_id, "due_date": i.due_date.isoformat(),
            "amount": money(i.amount), "paid_amount": money(i.paid_amount),
            "outstanding": money(i.amount - i.paid_amount), "status": i.status}
