"""Input the leads service accepts (validated again here: the gateway is not the only caller)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

Source = Literal["website", "expo", "referral", "cold_call", "ad", "import", "other"]
Kind = Literal["call", "visit", "email", "wechat", "meeting", "other"]


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

    @field_validator("phone")
    @classmethod
    def _phone_has_digits(cls, v: str | None) -> str | None:
        if v and not any(ch.isdigit() for ch in v):
            raise ValueError("phone must contain digits")
        return v or None


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


class PoolRulesInput(_Input):
    follow_up_days: int = Field(default=15, ge=1, le=365)
    max_leads_per_rep: int = Field(default=200, ge=1, le=100000)
    max_claims_per_day: int = Field(default=50, ge=1, le=10000)
    reclaim_cooldown_days: int = Field(default=7, ge=0, le=365)
    warn_days_before: int = Field(default=2, ge=0, le=365)
