"""The service desk (服务台): tickets (客户反馈), SLA policies and the business calendar,
returns (退货) and service work orders (服务工单)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.schemas.common import (
    ID_EXAMPLE,
    InputModel,
    Money,
    PublicModel,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    UtcTime,
)

_TICKET_EXAMPLE = {
    "customer_id": ID_EXAMPLE, "title": "设备运行异响", "description": "3 号产线主轴运行时有异响",
    "channel": "phone", "category": "fault", "priority": "high",
}


class TicketCreate(InputModel):
    """Status, number and SLA deadlines are set by the service desk."""

    customer_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    channel: TicketChannel
    category: TicketCategory
    priority: TicketPriority = TicketPriority.normal
    contact_id: str | None = None
    assignee_id: str | None = Field(None, description="an active service user to handle it")
    auto_assign: bool = Field(False, description="without `assignee_id`: give it to the "
                                                 "active service user with the fewest open "
                                                 "tickets")

    model_config = ConfigDict(json_schema_extra={"examples": [_TICKET_EXAMPLE]})


class TicketPublic(PublicModel):
    id: str
    customer_id: str | None = None
    contact_id: str | None = None
    title: str | None = None
    description: str | None = None
    channel: str | None = None
    category: str | None = None
    priority: str | None = None
    status: str | None = Field(None, description="open | in_progress | waiting | resolved | "
                                                 "closed | reopened")
    number: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    first_response_due: UtcTime | None = Field(None, description="SLA: first answer by")
    resolution_due: UtcTime | None = Field(None, description="SLA: resolved by")
    manager_id: str | None = Field(None, description="the assignee's manager (SLA alerts)")
    first_response_warn_at: UtcTime | None = None
    resolution_warn_at: UtcTime | None = None
    first_responded_at: UtcTime | None = None
    waiting_since: UtcTime | None = Field(None, description="waiting on the customer since "
                                                            "(the SLA is paused)")
    paused_minutes: int | None = Field(None, description="business minutes spent waiting")
    resolved_at: UtcTime | None = None
    closed_at: UtcTime | None = None
    reopened_count: int | None = None
    satisfaction_score: int | None = Field(None, description="客户满意度 1–5")
    satisfaction_comment: str | None = None
    rated_at: UtcTime | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d09", **_TICKET_EXAMPLE, "status": "open",
        "assignee_id": None, "created_at": "2025-03-01T08:00:00Z"}]})


class TicketStatusFilter(StrEnum):
    open = "open"
    in_progress = "in_progress"
    waiting = "waiting"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"


class TicketAssign(InputModel):
    """Name the assignee, or leave it out to assign automatically (fewest open tickets among
    the active service staff)."""

    assignee_id: str | None = Field(None, max_length=64)
    auto_assign: bool = False


class CommentCreate(InputModel):
    body: str = Field(min_length=1, max_length=10_000)
    internal: bool = Field(False, description="true: staff only; false: customer-visible")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"body": "已远程重启设备，请客户确认是否恢复", "internal": False}]})


class CommentPublic(PublicModel):
    id: str
    ticket_id: str | None = None
    author_id: str | None = None
    body: str | None = None
    internal: bool | None = None
    created_at: UtcTime | None = None


class CommentList(BaseModel):
    items: list[CommentPublic]


class TicketRate(InputModel):
    score: int = Field(ge=1, le=5, description="客户满意度 1 (very unhappy) – 5 (very happy)")
    comment: str | None = Field(None, max_length=2000)


class SlaPolicyIn(InputModel):
    priority: TicketPriority
    category: TicketCategory | None = Field(None, description="omit: every category")
    first_response_minutes: int = Field(gt=0, le=525_600, description="business minutes")
    resolution_minutes: int = Field(gt=0, le=525_600, description="business minutes")


class SlaPolicyOut(PublicModel):
    priority: str
    category: str | None = None
    first_response_minutes: int
    resolution_minutes: int
    source: str | None = Field(None, description="default | store")


class SlaPolicyList(BaseModel):
    items: list[SlaPolicyOut]


class CalendarDayIn(InputModel):
    date: dt.date
    kind: Literal["holiday", "workday"] = Field(
        description="holiday: a day off (节假日); workday: a worked weekend day (调休)")
    name: str | None = Field(None, max_length=100, examples=["国庆节"])


class CalendarDaysIn(InputModel):
    days: list[CalendarDayIn] = Field(min_length=1, max_length=400)


class CalendarDayOut(PublicModel):
    date: dt.date
    kind: str
    name: str | None = None


class CalendarDayList(BaseModel):
    items: list[CalendarDayOut]


# --- returns -----------------------------------------------------------------------------

Quantity = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=3, examples=["2"])]


class ReturnStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    received = "received"
    refunded = "refunded"
    replaced = "replaced"
    closed = "closed"


class ReturnLineIn(InputModel):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    reason: str | None = Field(None, max_length=500, examples=["运输途中外壳破损"])


class ReturnCreate(InputModel):
    """A return of lines of a SIGNED contract, each at most what was sold minus what was
    already returned."""

    contract_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=200)
    note: str | None = Field(None, max_length=2000)


class RefundIn(InputModel):
    amount: Money = Field(description="at most the returned lines' value", gt=0)


class ReturnLineOut(PublicModel):
    line_id: str
    quantity: str
    unit_price: str | None = None
    amount: str | None = None
    reason: str | None = None


class ReturnPublic(PublicModel):
    id: str
    number: str | None = None
    contract_id: str | None = None
    customer_id: str | None = None
    status: str | None = Field(None, description="requested | approved | rejected | received "
                                                 "| refunded | replaced | closed")
    outcome: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    contract_owner_id: str | None = None
    total_value: str | None = Field(None, description="the returned lines' value")
    refund_amount: str | None = None
    note: str | None = None
    lines: list[ReturnLineOut] = []
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


# --- work orders -------------------------------------------------------------------------

class WorkOrderKind(StrEnum):
    test = "test"
    installation = "installation"
    demonstration = "demonstration"
    repair = "repair"


class WorkOrderStatus(StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"


class WorkOrderCreate(InputModel):
    customer_id: str = Field(min_length=1, max_length=64)
    contract_id: str | None = Field(None, max_length=64)
    kind: WorkOrderKind
    scheduled_at: dt.datetime = Field(description="ISO 8601 with offset")
    assignee_id: str = Field(min_length=1, max_length=64, description="the engineer")
    address: str | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=5000)

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone offset")
        return value

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": ID_EXAMPLE, "kind": "installation",
        "scheduled_at": "2026-03-10T09:30:00+08:00", "assignee_id": ID_EXAMPLE,
        "address": "上海市浦东新区张江路 88 号", "notes": "安装 3 台设备并培训"}]})


class WorkOrderComplete(InputModel):
    workload_hours: Decimal = Field(gt=0, le=1000, max_digits=6, decimal_places=2,
                                    description="工作量 in hours")
    result: str = Field(min_length=1, max_length=5000)


class WorkOrderPublic(PublicModel):
    id: str
    number: str | None = None
    customer_id: str | None = None
    contract_id: str | None = None
    kind: str | None = None
    status: str | None = None
    scheduled_at: UtcTime | None = None
    business_day: dt.date | None = None
    assignee_id: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    address: str | None = None
    notes: str | None = None
    workload_hours: str | None = None
    result: str | None = None
    started_at: UtcTime | None = None
    completed_at: UtcTime | None = None
    cancelled_at: UtcTime | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class CalendarDayItems(BaseModel):
    date: dt.date
    items: list[WorkOrderPublic]


class WorkOrderCalendar(BaseModel):
    start: dt.date
    end: dt.date
    days: list[CalendarDayItems]
