"""Pipelines (自定义流程) and opportunities (商机)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from gateway.schemas.common import ID_EXAMPLE, InputModel, Money, PublicModel, UtcTime

StageKind = Literal["open", "won", "lost"]


class StageIn(InputModel):
    name: str = Field(min_length=1, max_length=50, examples=["需求确认"])
    probability: int = Field(ge=0, le=100, description="win probability in percent",
                             examples=[30])
    kind: StageKind | None = Field(None, description="open, won or lost; by default 100% is "
                                                     "the won stage, 0% the lost one")


class PipelineCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    stages: list[StageIn] = Field(min_length=2, max_length=20)

    @field_validator("stages")
    @classmethod
    def _unique_stage_names(cls, stages: list[StageIn]) -> list[StageIn]:
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be unique")
        return stages

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "项目型销售", "stages": [
            {"name": "初步接洽", "probability": 10}, {"name": "需求确认", "probability": 30},
            {"name": "方案报价", "probability": 50}, {"name": "谈判审核", "probability": 70},
            {"name": "赢单", "probability": 100}, {"name": "输单", "probability": 0}]}]})


class StagePublic(PublicModel):
    name: str
    probability: int | float | None = None
    kind: str | None = None


class PipelinePublic(PublicModel):
    id: str
    name: str | None = None
    stages: list[StagePublic] | None = None
    is_default: bool | None = None
    created_at: UtcTime | None = None


class OpportunityCreate(InputModel):
    """Stage, status and owner are set by the sales service (first stage, open, you)."""

    customer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    amount: Money
    currency: Literal["CNY"] = "CNY"
    expected_close_date: dt.date | None = None
    pipeline_id: str | None = Field(None, description="defaults to the default pipeline")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": ID_EXAMPLE, "name": "宏达机械 2025 年 CRM 采购", "amount": "128000.00",
        "expected_close_date": "2025-06-30"}]})


class OpportunityPublic(PublicModel):
    id: str
    customer_id: str | None = None
    name: str | None = None
    amount: Decimal | None = Field(None, examples=["128000.00"])
    currency: str | None = None
    expected_close_date: dt.date | None = None
    pipeline_id: str | None = None
    stage: str | None = None
    probability: int | float | None = None
    status: str | None = Field(None, description="open | won | lost")
    lost_reason: str | None = None
    closed_at: UtcTime | None = None
    owner_id: str | None = None
    team_id: str | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID_EXAMPLE, "customer_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d02",
        "name": "宏达机械 2025 年 CRM 采购", "amount": "128000.00",
        "expected_close_date": "2025-06-30", "pipeline_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d03",
        "stage": "需求确认", "status": "open", "owner_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d01"}]})


class StageChange(InputModel):
    stage: str = Field(min_length=1, max_length=50, examples=["方案报价"])
    lost_reason: str | None = Field(None, min_length=1, max_length=500,
                                    description="why the deal was lost (for a lost stage)")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"stage": "方案报价"}, {"stage": "输单", "lost_reason": "预算被砍"}]})


# -- products, quotes, contracts, receivables, invoices, billing (销售单据) ------------------------

#: A rate between 0 and 1: a line's discount (0.15 = 15% off) or a tax rate (0.13 = 13%).
Rate = Annotated[Decimal, Field(ge=0, le=1, max_digits=8, decimal_places=6, examples=["0.13"])]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=3, examples=["2"])]
MoneyOut = Annotated[str | None, Field(None, examples=["12800.00"])]


class ProductCreate(InputModel):
    sku: str = Field(min_length=1, max_length=64, examples=["CRM-STD"])
    name: str = Field(min_length=1, max_length=200, examples=["CRM 标准版"])
    unit: str = Field(min_length=1, max_length=20, examples=["套"])
    list_price: Money
    category: str | None = Field(None, max_length=100, examples=["软件"])
    active: bool = True


class ProductUpdate(InputModel):
    not_nullable = ("name", "unit", "list_price", "active")

    name: str | None = Field(None, min_length=1, max_length=200)
    unit: str | None = Field(None, min_length=1, max_length=20)
    list_price: Money | None = None
    category: str | None = Field(None, max_length=100)
    active: bool | None = None


class ProductPublic(PublicModel):
    id: str
    sku: str | None = None
    name: str | None = None
    unit: str | None = None
    list_price: MoneyOut
    category: str | None = None
    active: bool | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class LineIn(InputModel):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    unit_price: Money | None = Field(None, description="defaults to the product's list price")
    discount: Rate = Field(Decimal("0"), description="a rate 0–1 off the line (0.15 = 15% off)")


class LinePublic(PublicModel):
    id: str | None = None
    product_id: str | None = None
    sku: str | None = None
    name: str | None = None
    unit: str | None = None
    quantity: str | None = Field(None, examples=["2"])
    unit_price: MoneyOut
    discount_rate: str | None = Field(None, examples=["0.1"])
    gross: MoneyOut
    discount: MoneyOut
    amount: MoneyOut


class QuoteCreate(InputModel):
    """Totals are computed by the server (Decimal, ROUND_HALF_UP to cents); a client cannot
    set them."""

    customer_id: str = Field(min_length=1, max_length=64)
    opportunity_id: str | None = Field(None, max_length=64)
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    tax_rate: Rate = Decimal("0")
    valid_until: dt.date | None = Field(None, description="last day the quote can be accepted")
    currency: Literal["CNY"] = "CNY"

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": ID_EXAMPLE, "tax_rate": "0.13", "valid_until": "2026-06-30",
        "lines": [{"product_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d07", "quantity": "2",
                   "discount": "0.1"}]}]})


class DocumentAmounts(PublicModel):
    currency: str | None = None
    tax_rate: str | None = Field(None, examples=["0.13"])
    subtotal: MoneyOut
    discount: MoneyOut
    tax: MoneyOut
    total: MoneyOut


class QuotePublic(DocumentAmounts):
    id: str
    customer_id: str | None = None
    opportunity_id: str | None = None
    status: str | None = Field(None, description="draft | sent | accepted | rejected | expired")
    valid_until: dt.date | None = None
    owner_id: str | None = None
    team_id: str | None = None
    lines: list[LinePublic] | None = None
    sent_at: UtcTime | None = None
    decided_at: UtcTime | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class Reason(InputModel):
    reason: str | None = Field(None, min_length=1, max_length=500)


class Comment(InputModel):
    comment: str | None = Field(None, min_length=1, max_length=1000,
                                description="required to reject")


class ContractCreate(InputModel):
    """From an accepted quote (``quote_id``: its lines and totals are copied) or directly
    with ``customer_id`` and ``lines``."""

    quote_id: str | None = Field(None, max_length=64)
    customer_id: str | None = Field(None, max_length=64)
    opportunity_id: str | None = Field(None, max_length=64)
    title: str | None = Field(None, max_length=200)
    lines: list[LineIn] | None = Field(None, min_length=1, max_length=200)
    tax_rate: Rate = Decimal("0")
    currency: Literal["CNY"] = "CNY"


class ApprovalStepPublic(PublicModel):
    round: int | None = None
    level: int | None = None
    approver_id: str | None = None
    decision: str | None = Field(None, description="approved | rejected | null (waiting)")
    comment: str | None = None
    requested_at: UtcTime | None = None
    decided_at: UtcTime | None = None


class ContractPublic(DocumentAmounts):
    id: str
    number: str | None = Field(None, examples=["HT-2026-000123"])
    customer_id: str | None = None
    quote_id: str | None = None
    opportunity_id: str | None = None
    title: str | None = None
    status: str | None = Field(None, description="draft | pending_approval | approved | "
                                                 "rejected | signed | completed | cancelled")
    owner_id: str | None = None
    team_id: str | None = None
    lines: list[LinePublic] | None = None
    approval_steps: list[ApprovalStepPublic] | None = None
    submitted_at: UtcTime | None = None
    approved_at: UtcTime | None = None
    signed_at: UtcTime | None = None
    completed_at: UtcTime | None = None
    cancelled_at: UtcTime | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class InstalmentIn(InputModel):
    due_date: dt.date
    amount: Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2,
                                     examples=["50000.00"])]


class ReceivablePlanCreate(InputModel):
    """Instalments whose amounts sum to exactly the contract total."""

    instalments: list[InstalmentIn] = Field(min_length=1, max_length=60)


class InstalmentPublic(PublicModel):
    id: str
    contract_id: str | None = None
    contract_number: str | None = None
    customer_id: str | None = None
    owner_id: str | None = None
    due_date: dt.date | None = None
    amount: MoneyOut
    paid_amount: MoneyOut
    outstanding: MoneyOut
    status: str | None = Field(None, description="pending | partial | paid | overdue")


class ReceivablePlanPublic(PublicModel):
    contract_id: str
    number: str | None = None
    total: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut
    instalments: list[InstalmentPublic]


class PaymentCreate(InputModel):
    instalment_id: str = Field(min_length=1, max_length=64)
    amount: Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2,
                                     examples=["20000.00"])]
    paid_at: dt.datetime = Field(description="ISO 8601 with offset")
    method: Literal["bank_transfer", "cash", "check", "card", "alipay", "wechat", "other"]
    reference: str | None = Field(None, max_length=100)

    @field_validator("paid_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a time with its offset")
        return value


class PaymentPublic(PublicModel):
    id: str
    instalment_id: str | None = None
    contract_id: str | None = None
    customer_id: str | None = None
    amount: MoneyOut
    paid_at: UtcTime | None = None
    method: str | None = None
    reference: str | None = None


class AgeingRow(PublicModel):
    owner_id: str | None = None
    team_id: str | None = None
    buckets: dict[str, str]
    total: MoneyOut


class AgeingReport(PublicModel):
    as_of: dt.date
    buckets: list[str] = Field(examples=[["0-30", "31-60", "61-90", ">90"]])
    items: list[AgeingRow]
    totals: dict[str, str]
    total: MoneyOut


class InvoiceCreate(InputModel):
    """``amount`` is the invoiced amount including ``tax``; all invoices of a contract sum
    to at most its total."""

    contract_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64, examples=["31001234"])
    amount: Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2)]
    tax: Money
    issued_on: dt.date


class InvoicePublic(PublicModel):
    id: str
    contract_id: str | None = None
    customer_id: str | None = None
    number: str | None = None
    amount: MoneyOut
    tax: MoneyOut
    issued_on: dt.date | None = None
    issued_by: str | None = None


class BillingIn(InputModel):
    """A customer's billing details (开票信息)."""

    title: str | None = Field(None, max_length=200, examples=["上海星辰科技有限公司"])
    tax_id: str = Field(min_length=1, max_length=32, examples=["91310000MA1FL0XX1X"])
    bank: str | None = Field(None, max_length=200, examples=["招商银行上海分行"])
    account: str | None = Field(None, max_length=64)
    address: str | None = Field(None, max_length=300)
    phone: str | None = Field(None, max_length=40)


class BillingPublic(PublicModel):
    customer_id: str
    title: str | None = None
    tax_id: str | None = None
    bank: str | None = None
    account: str | None = None
    address: str | None = None
    phone: str | None = None
    updated_at: UtcTime | None = None
