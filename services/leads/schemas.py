"""Input the leads service accepts (validated again here: the gateway is not the only caller)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from crmkit.text import normalize_phone

Source = Literal["website", "expo", "referral", "cold_call", "ad", "import", "other"]
Kind = Literal["call", "visit", "email", "wechat", "meeting", "other"]
#: campaign channels (市场活动渠道): 展会, 网络广告, 微信, 邮件, 电话营销, 转介绍
Channel = Literal["expo", "online_ad", "wechat", "email", "telemarketing", "referral"]
CHANNELS: tuple[str, ...] = Channel.__args__


def check_phone(v: str | None) -> str | None:
    """A phone must have 5 to 20 digits once normalised (+86 prefix, spaces, dashes dropped)."""
    if not v:
        return None
    digits = normalize_phone(v) or ""
    if not 5 <= len(digits) <= 20:
        raise ValueError("phone must have 5 to 20 digits")
    return v


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class LeadCreate(_Input):
    name: str = Field(min_length=1, max_length=100)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    source: Source = "other"
    region: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    pool: str = Field(default="default", min_length=1, max_length=64)
    owner_id: str | None = None
    campaign_id: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("phone")
    @classmethod
    def _phone_has_digits(cls, v: str | None) -> str | None:
        return check_phone(v)


class LeadUpdate(_Input):
    """What PATCH may change; owner, status and customer move only through their commands."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    source: Source | None = None
    region: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=50)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=32,
                                    description="null detaches the lead from its campaign")

    @field_validator("phone")
    @classmethod
    def _phone_has_digits(cls, v: str | None) -> str | None:
        return check_phone(v)


class FollowUpCreate(_Input):
    kind: Kind
    content: str = Field(min_length=1, max_length=5000)
    occurred_at: datetime | None = None
    next_follow_up_at: datetime | None = None

    @field_validator("occurred_at", "next_follow_up_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("time must carry a UTC offset")
        return v


class ReturnConditionInput(_Input):
    """Return rule for leads of ``sources`` (omitted/null: every source)."""

    sources: list[Source] | None = Field(default=None, min_length=1)
    no_follow_up_days: int | None = Field(default=None, ge=1, le=365)
    not_converted_days: int | None = Field(default=None, ge=1, le=3650)


class PoolRulesInput(_Input):
    follow_up_days: int = Field(default=15, ge=1, le=365)
    max_leads_per_rep: int = Field(default=200, ge=1, le=100000)
    max_claims_per_day: int = Field(default=50, ge=1, le=10000)
    reclaim_cooldown_days: int = Field(default=7, ge=0, le=365)
    warn_days_before: int = Field(default=2, ge=0, le=365)
    return_conditions: list[ReturnConditionInput] = Field(default_factory=list, max_length=20)


class TransferInput(_Input):
    owner_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class PoolCreate(_Input):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    title: str | None = Field(default=None, max_length=100)
    members: list[str] = Field(default_factory=list, max_length=1000)


def check_period(starts_on: date | None, ends_on: date | None) -> None:
    """A campaign's period is whole days, ``starts_on`` ≤ ``ends_on`` (one day is fine)."""
    if starts_on is not None and ends_on is not None and starts_on > ends_on:
        raise ValueError("starts_on must not be after ends_on")


class CampaignCreate(_Input):
    name: str = Field(min_length=1, max_length=100)
    channel: Channel
    budget: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    starts_on: date
    ends_on: date
    owner_id: str | None = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _period(self) -> CampaignCreate:
        check_period(self.starts_on, self.ends_on)
        return self


class CampaignUpdate(_Input):
    """What PATCH may change (the channel is what the campaign is: create another)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    budget: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    starts_on: date | None = None
    ends_on: date | None = None
    owner_id: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("name", "budget", "starts_on", "ends_on", "owner_id", mode="before")
    @classmethod
    def _not_null(cls, v):
        if v is None:
            raise ValueError("may not be null")
        return v
