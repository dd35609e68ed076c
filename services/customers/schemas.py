"""Input the customers service accepts."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

Level = Literal["A", "B", "C", "D"]
Status = Literal["potential", "intent", "deal", "repeat", "dormant", "lost"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerCreate(_Input):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["company", "individual"] = "company"
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    website: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=20)
    level: Level = "C"
    status: Status = "potential"
    tags: list[str] = Field(default_factory=list, max_length=50)
    credit_limit: Decimal = Field(default=Decimal("0"), ge=0, max_digits=18, decimal_places=2)


class CustomerUpdate(_Input):
    """PATCH: owner, status, level and credit limit move only through their own commands."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: Literal["company", "individual"] | None = None
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    website: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=50)
    next_follow_up_at: AwareDatetime | None = None


FollowUpKind = Literal["call", "visit", "email", "wechat", "meeting", "other"]


class NextFollowUp(_Input):
    next_follow_up_at: AwareDatetime | None = None


class ContactCreate(_Input):
    name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    is_primary: bool = False


class FollowUpCreate(_Input):
    kind: FollowUpKind
    content: str = Field(min_length=1, max_length=5000)
    happened_at: AwareDatetime | None = None   # default: now; never in the future


class PlanCreate(_Input):
    kind: FollowUpKind = "visit"
    scheduled_at: AwareDatetime
    subject: str = Field(min_length=1, max_length=200)
    notes: str | None = Field(default=None, max_length=5000)


class PlanStatusChange(_Input):
    status: Literal["done", "cancelled"]


class LevelChange(_Input):
    level: Level
    reason: str = Field(min_length=1, max_length=500)


class CreditLimitChange(_Input):
    credit_limit: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    reason: str = Field(min_length=1, max_length=500)


class LevelDays(_Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    follow_up_days: int | None = Field(default=None, ge=0, le=3650)
    deal_days: int | None = Field(default=None, ge=0, le=3650)


class PoolRulesInput(_Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    follow_up_days: int | None = Field(default=30, ge=0, le=3650)
    deal_days: int | None = Field(default=90, ge=0, le=3650)
    per_level: dict[Level, LevelDays] = Field(default_factory=dict)
    max_customers_per_rep: int = Field(default=300, ge=0, le=100000)
    max_locked_per_rep: int = Field(default=20, ge=0, le=100000)
