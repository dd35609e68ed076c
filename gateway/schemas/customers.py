"""Customers (客户)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from gateway.schemas.common import (
    ID_EXAMPLE,
    CustomerLevel,
    CustomerType,
    Email,
    FollowUpKind,
    InputModel,
    LeadSource,
    Money,
    Page,
    Phone,
    PublicModel,
    Tags,
    UtcTime,
)

_CUSTOMER_EXAMPLE = {
    "name": "上海宏达机械制造有限公司", "type": "company", "industry": "制造业", "region": "上海",
    "address": "上海市嘉定区安亭镇墨玉路 88 号", "phone": "021-6958 1234",
    "email": "purchase@hongda.example.cn", "website": "https://hongda.example.cn",
    "source": "referral", "level": "B", "tags": ["华东", "老客户推荐"],
}


class CustomerFields(InputModel):
    industry: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=300)
    phone: Phone | None = None
    email: Email | None = None
    website: str | None = Field(None, max_length=200)
    source: LeadSource | None = None


class CustomerCreate(CustomerFields):
    """You become the owner (your team the customer's team). Status, credit limit and the lead
    of origin are set by the business, not the client."""

    name: str = Field(min_length=1, max_length=200)
    type: CustomerType = CustomerType.company
    level: CustomerLevel = Field(CustomerLevel.C, description="A key, B important, C normal, "
                                                              "D small")
    tags: Tags = []

    model_config = ConfigDict(json_schema_extra={"examples": [_CUSTOMER_EXAMPLE]})


class CustomerUpdate(CustomerFields):
    not_nullable: ClassVar[tuple[str, ...]] = ("name", "type", "level", "tags")

    name: str | None = Field(None, min_length=1, max_length=200)
    type: CustomerType | None = None
    level: CustomerLevel | None = None
    tags: Tags | None = None
    next_follow_up_at: AwareDatetime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"level": "A", "tags": ["华东", "战略客户"]}]})


class CustomerPublic(PublicModel):
    id: str
    name: str | None = None
    type: str | None = None
    industry: str | None = None
    region: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    source: str | None = None
    level: str | None = None
    status: str | None = Field(None, description="potential | intent | deal | repeat | "
                                                 "dormant | lost")
    owner_id: str | None = None
    team_id: str | None = None
    tags: list[str] | None = None
    credit_limit: Decimal | None = Field(None, examples=["500000.00"])
    lead_id: str | None = None
    locked: bool | None = Field(None, description="锁定: never returned to the pool")
    claimed_at: UtcTime | None = None
    last_deal_at: UtcTime | None = None
    last_contact_at: UtcTime | None = None
    next_follow_up_at: UtcTime | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID_EXAMPLE, **_CUSTOMER_EXAMPLE, "status": "potential",
        "owner_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d01", "team_id": None,
        "credit_limit": "0.00", "lead_id": None, "created_at": "2025-03-01T08:00:00Z"}]})


class CustomerCreated(CustomerPublic):
    duplicates: list[dict[str, Any]] | None = Field(
        None, description="existing customers that look like this one (a warning)")


# -- contacts, follow-ups, plans ----------------------------------------------------------------

class ContactCreate(InputModel):
    """The first contact of a customer is its primary one; `is_primary: true` makes this one
    the primary contact and demotes the previous one (exactly one primary)."""

    name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(None, max_length=100)
    phone: Phone | None = None
    email: Email | None = None
    is_primary: bool = False

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "王磊", "title": "采购总监", "phone": "139 1234 5678", "is_primary": True}]})


class ContactPublic(PublicModel):
    id: str
    customer_id: str | None = None
    name: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    is_primary: bool | None = None
    created_at: UtcTime | None = None


class CustomerDetail(CustomerPublic):
    contacts: list[ContactPublic] | None = None


class FollowUpCreate(InputModel):
    kind: FollowUpKind
    content: str = Field(min_length=1, max_length=5000)
    happened_at: AwareDatetime | None = Field(None, description="default: now; not in the "
                                                                "future")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "call", "content": "电话沟通二期采购需求，客户预计下月立项"}]})


class FollowUpPublic(PublicModel):
    id: str
    customer_id: str | None = None
    author_id: str | None = None
    kind: str | None = None
    content: str | None = None
    happened_at: UtcTime | None = None
    created_at: UtcTime | None = None


class PlanCreate(InputModel):
    kind: FollowUpKind = FollowUpKind.visit
    scheduled_at: AwareDatetime
    subject: str = Field(min_length=1, max_length=200)
    notes: str | None = Field(None, max_length=5000)

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "visit", "scheduled_at": "2025-03-05T10:00:00+08:00",
         "subject": "上门演示新版设备", "notes": "带上报价单"}]})


class PlanStatusChange(InputModel):
    status: Literal["done", "cancelled"]


class PlanPublic(PublicModel):
    id: str
    customer_id: str | None = None
    customer_name: str | None = None
    owner_id: str | None = None
    kind: str | None = None
    subject: str | None = None
    notes: str | None = None
    scheduled_at: UtcTime | None = None
    status: str | None = Field(None, description="planned | done | cancelled")
    reminded_at: UtcTime | None = None
    created_at: UtcTime | None = None


class CalendarDay(PublicModel):
    date: str = Field(examples=["2025-03-05"])
    plans: list[PlanPublic]


class Calendar(PublicModel):
    start: str
    end: str
    timezone: str = Field(examples=["Asia/Shanghai"])
    days: list[CalendarDay]


# -- level, credit limit, actions ----------------------------------------------------------------

class LevelChange(InputModel):
    level: CustomerLevel
    reason: str = Field(min_length=1, max_length=500)


class CreditLimitChange(InputModel):
    credit_limit: Money
    reason: str = Field(min_length=1, max_length=500)

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"credit_limit": "500000.00", "reason": "连续三年按时回款，提高额度"}]})


class CreditLimitChangePublic(PublicModel):
    id: str
    customer_id: str | None = None
    from_: str | None = Field(None, alias="from", examples=["0.00"])
    to: str | None = Field(None, examples=["500000.00"])
    reason: str | None = None
    actor_id: str | None = None
    at: UtcTime | None = None


class CreditLimitHistory(Page[CreditLimitChangePublic]):
    customer_id: str
    credit_limit: str = Field(examples=["500000.00"])


class ActionPublic(PublicModel):
    id: str
    customer_id: str | None = None
    actor_id: str | None = None
    action: str
    field: str | None = None
    from_: Any = Field(None, alias="from")
    to: Any = None
    note: str | None = None
    at: UtcTime | None = None


# -- pool, merge ---------------------------------------------------------------------------------

class ReleaseRequest(InputModel):
    reason: str = Field(min_length=1, max_length=500)


class MergeRequest(InputModel):
    other_id: str = Field(min_length=1, max_length=64, description="the customer merged into "
                                                                   "this one (and hidden)")


class LevelDays(InputModel):
    follow_up_days: int | None = Field(None, ge=0, le=3650)
    deal_days: int | None = Field(None, ge=0, le=3650)


class CustomerPoolRules(InputModel):
    """0 or null switches a condition off. Locked customers (锁定) are never returned."""

    follow_up_days: int | None = Field(30, ge=0, le=3650,
                                       description="no follow-up for N days → back to the pool")
    deal_days: int | None = Field(90, ge=0, le=3650,
                                  description="no deal for N days since claimed → back")
    per_level: dict[CustomerLevel, LevelDays] = Field(
        default_factory=dict, examples=[{"A": {"follow_up_days": 60, "deal_days": 180}}])
    max_customers_per_rep: int = Field(300, ge=0, le=100000)
    max_locked_per_rep: int = Field(20, ge=0, le=100000)


class CustomerPoolRulesPreview(InputModel):
    rules: CustomerPoolRules | None = None


class PoolPreviewItem(PublicModel):
    customer_id: str
    name: str | None = None
    owner_id: str | None = None
    level: str | None = None
    reason: str = Field(description="no_follow_up | no_deal")


class PoolPreview(PublicModel):
    rules: dict[str, Any]
    as_of: UtcTime
    count: int
    items: list[PoolPreviewItem]
