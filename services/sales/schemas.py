"""Input the sales service accepts (validated again here: the gateway is not the only caller).

Fields a client may not set (owner, team, stage, probability, status) are not
in these models and are ignored when sent.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class StageInput(_Input):
    name: str = Field(min_length=1, max_length=50)
    probability: int
    kind: Literal["open", "won", "lost"] | None = None


class PipelineCreate(_Input):
    name: str = Field(min_length=1, max_length=100)
    stages: list[StageInput] = Field(min_length=1, max_length=50)


class OpportunityCreate(_Input):
    customer_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    currency: Literal["CNY"] = "CNY"
    expected_close_date: date | None = None
    pipeline_id: str | None = Field(default=None, max_length=32)


class ProductCreate(_Input):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=20)
    list_price: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    category: str | None = Field(default=None, max_length=100)
    active: bool = True


class ProductUpdate(_Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    list_price: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    category: str | None = Field(default=None, max_length=100)
    active: bool | None = None


class LineInput(_Input):
    product_id: str = Field(min_length=1, max_length=32)
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=3)
    unit_price: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    discount: Decimal = Field(default=Decimal("0"), ge=0, le=1, decimal_places=6)


class QuoteCreate(_Input):
    customer_id: str = Field(min_length=1, max_length=32)
    opportunity_id: str | None = Field(default=None, max_length=32)
    lines: list[LineInput] = Field(min_length=1, max_length=200)
    tax_rate: Decimal = Field(default=Decimal("0"), ge=0, le=1, decimal_places=6)
    valid_until: date | None = None
    currency: Literal["CNY"] = "CNY"


class ContractCreate(_Input):
    quote_id: str | None = Field(default=None, max_length=32)
    customer_id: str | None = Field(default=None, max_length=32)
    opportunity_id: str | None = Field(default=None, max_length=32)
    title: str | None = Field(default=None, max_length=200)
    lines: list[LineInput] | None = Field(default=None, min_length=1, max_length=200)
    tax_rate: Decimal = Field(default=Decimal("0"), ge=0, le=1, decimal_places=6)
    currency: Literal["CNY"] = "CNY"


class InstalmentInput(_Input):
    due_date: date
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)


class ReceivablePlanCreate(_Input):
    instalments: list[InstalmentInput] = Field(min_length=1, max_length=60)


class PaymentCreate(_Input):
    instalment_id: str = Field(min_length=1, max_length=32)
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    paid_at: datetime
    method: Literal["bank_transfer", "cash", "check", "card", "alipay", "wechat", "other"]
    reference: str | None = Field(default=None, max_length=100)


class InvoiceCreate(_Input):
    contract_id: str = Field(min_length=1, max_length=32)
    number: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    tax: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    issued_on: date


class BillingInput(_Input):
    title: str | None = Field(default=None, max_length=200)
    tax_id: str = Field(min_length=1, max_length=32)
    bank: str | None = Field(default=None, max_length=200)
    account: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
