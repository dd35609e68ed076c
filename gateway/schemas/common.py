"""Shared schema pieces: error body, page, money, e-mail, base models, enums of SPEC §3."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

T = TypeVar("T")

ID_EXAMPLE = "0190b3c2a1f47c3e9d2b6a8f1e0c4d5b"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class InputModel(BaseModel):
    """A request body: unknown fields are rejected (422), strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: fields that may be omitted from a PATCH but never set to null
    not_nullable: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        """NUL (U+0000) can't be stored in PostgreSQL text: refuse it here, as a 422."""
        if _has_nul(data):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _no_explicit_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name in cls.not_nullable:
            raise ValueError("may be omitted but not null")
        return value


class PublicModel(BaseModel):
    """A response: documented fields plus whatever else the service returned."""

    model_config = ConfigDict(extra="allow", from_attributes=True)


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["Lead not found"])
    details: Any = Field(None, examples=[None])


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "validation_error", "message": "The request is not valid",
                   "details": [{"loc": ["body", "email"], "msg": "not an e-mail address",
                                "type": "value_error"}]}},
    ]})


class Page(BaseModel, Generic[T]):
    """A keyset page; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = Field(None, examples=[None])


class Items(BaseModel, Generic[T]):
    items: list[T]


def _utc_iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


#: A time in a response: ISO 8601 in UTC with its offset, like the services write it.
UtcTime = Annotated[
    dt.datetime,
    PlainSerializer(_utc_iso, return_type=str, when_used="json"),
    Field(examples=["2025-03-01T08:00:00+00:00"]),
]


def _quantize_money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


#: Money: a decimal with at most 2 places, sent and returned as a string ("12800.00").
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=16, decimal_places=2, examples=["12800.00"]),
    AfterValidator(_quantize_money),
]

Email = Annotated[EmailStr, Field(max_length=254, examples=["li.na@example.com"])]
Tag = Annotated[str, Field(min_length=1, max_length=30)]
Tags = Annotated[list[Tag], Field(max_length=20, examples=[["重点", "华东"]])]
Phone = Annotated[str, Field(max_length=40, examples=["138 0013 8000"])]
Text100 = Annotated[str, Field(min_length=1, max_length=100)]


class Role(StrEnum):
    admin = "admin"
    manager = "manager"
    sales = "sales"
    service = "service"
    finance = "finance"


class DataScope(StrEnum):
    own = "own"
    subordinates = "subordinates"
    team = "team"
    team_tree = "team_tree"
    all = "all"


class LeadSource(StrEnum):
    website = "website"
    expo = "expo"
    referral = "referral"
    cold_call = "cold_call"
    ad = "ad"
    import_ = "import"
    other = "other"


class LeadStatus(StrEnum):
    new = "new"
    following = "following"
    converted = "converted"
    invalid = "invalid"


class ListScope(StrEnum):
    pool = "pool"
    mine = "mine"
    all = "all"


class FollowUpKind(StrEnum):
    call = "call"
    visit = "visit"
    email = "email"
    wechat = "wechat"
    meeting = "meeting"
    other = "other"


class CustomerType(StrEnum):
    company = "company"
    individual = "individual"


class CustomerLevel(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


class CustomerStatus(StrEnum):
    potential = "potential"
    intent = "intent"
    deal = "deal"
    repeat = "repeat"
    dormant = "dormant"
    lost = "lost"


class OpportunityStatus(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


class TicketChannel(StrEnum):
    phone = "phone"
    email = "email"
    web = "web"
    wechat = "wechat"


class TicketCategory(StrEnum):
    complaint = "complaint"
    inquiry = "inquiry"
    fault = "fault"
    suggestion = "suggestion"


class TicketPriority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"
