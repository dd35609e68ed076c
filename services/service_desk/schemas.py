"""Input the service desk accepts (validated again here: the gateway is not the only caller).

Fields a client may not set (owner, team, status, SLA deadlines, number) are not
in these models and are ignored when sent.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Channel = Literal["phone", "email", "web", "wechat"]
Category = Literal["complaint", "inquiry", "fault", "suggestion"]
Priority = Literal["low", "normal", "high", "urgent"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class TicketCreate(_Input):
    customer_id: str = Field(min_length=1, max_length=32)
    contact_id: str | None = Field(default=None, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    channel: Channel
    category: Category
    priority: Priority = "normal"
    assignee_id: str | None = Field(default=None, max_length=32)


class TicketComment(_Input):
    body: str = Field(min_length=1, max_length=10000)
    internal: bool = False


class TicketRating(_Input):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class SlaPolicyInput(_Input):
    priority: Priority
    category: Category | None = None
    first_response_minutes: int = Field(gt=0, le=525600)
    resolution_minutes: int = Field(gt=0, le=525600)


class CalendarDayInput(_Input):
    date: dt.date
    kind: Literal["holiday", "workday"]
    name: str | None = Field(default=None, max_length=100)


class ReturnLineInput(_Input):
    line_id: str = Field(min_length=1, max_length=32)
    quantity: Decimal = Field(gt=0, max_digits=15, decimal_places=3)
    reason: str | None = Field(default=None, max_length=500)


class ReturnCreate(_Input):
    contract_id: str = Field(min_length=1, max_length=32)
    customer_id: str = Field(min_length=1, max_length=32)
    lines: list[ReturnLineInput] = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class RefundInput(_Input):
    amount: Decimal = Field(gt=0, max_digits=16, decimal_places=2)


class WorkOrderCreate(_Input):
    customer_id: str = Field(min_length=1, max_length=32)
    contract_id: str | None = Field(default=None, max_length=32)
    kind: Literal["test", "installation", "demonstration", "repair"]
    scheduled_at: dt.datetime
    assignee_id: str = Field(min_length=1, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    notes: str | None = Field(default=None, max_length=5000)

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("scheduled_at needs a time zone offset")
        return value


class WorkOrderComplete(_Input):
    workload_hours: Decimal = Field(gt=0, le=1000, max_digits=6, decimal_places=2)
    result: str = Field(min_length=1, max_length=5000)
