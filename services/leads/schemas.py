"""Input the leads service accepts (validated again here: the gateway is not the only caller)."""
from __future__ import annotations

import functools
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import email_validator
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
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
    """A lead to create. ``plain_lead`` below answers like it for the import's rows: keep the
    two in step (tests/unit/test_leads_import_rows.py compares them)."""

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


#: LeadCreate's text fields → their longest allowed length
_TEXT_MAX = {"name": 100, "company": 200, "title": 100, "phone": 40, "region": 100,
             "industry": 100, "notes": 5000}
_SOURCES = frozenset(Source.__args__)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: an address of ASCII letters, digits, ``_+-`` and dots (no leading, trailing or double dot)
#: at an ASCII host name: what CRM exports hold, and what ``plain_email`` settles alone
_PLAIN_EMAIL = re.compile(r"([A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*)"
                          r"@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


@functools.lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | None:
    """email-validator's normal form of ``domain`` (the part after the @-sign), or None when
    it refuses it. Once per domain: an import's addresses share a few domains."""
    try:
        return email_validator.validate_email(f"x@{domain}", check_deliverability=False).domain
    except email_validator.EmailNotValidError:
        return None


def plain_email(value: str) -> str | None:
    """What ``EmailStr`` makes of a plain address, without running email-validator on every
    row: the local part as written (lower-cased for the RFC 2142 role names, as
    email-validator does) and the domain as email-validator normalises it. None: not a plain
    address (IDNA, quoting, a display name, too long, a refused domain ...): ask ``EmailStr``.
    """
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None or len(value) > 254:
        return None
    local, domain = match.groups()
    normal = _email_domain(domain)
    if normal is None or normal != domain.lower() or len(local) > 64:
        return None
    if local.lower() in _MAILBOX_NAMES:
        local = local.lower()
    return f"{local}@{normal}"


def plain_lead(data: dict) -> dict | None:
    """``LeadCreate(**data).model_dump(exclude={"owner_id"})`` for an import row whose values
    are plainly valid: text already stripped and within its length, a phone of 5–20 digits, a
    known source, a plain e-mail address, at most 50 tags. None for anything else, which the
    caller then validates with ``LeadCreate`` itself (so a rejected row gets exactly the
    messages a create would).
    """
    lead = {"name": None, "company": None, "title": None, "phone": None, "email": None,
            "source": "other", "region": None, "industry": None, "notes": None, "tags": [],
            "pool": "default", "campaign_id": None}
    texts = []
    for key, value in data.items():
        if key not in lead:
            if key == "owner_id" and value is not None:
                return None
            continue                                          # extra="ignore"
        if key == "tags":
            if type(value) is not list or len(value) > 50 or \
                    any(type(t) is not str or t != t.strip() for t in value):
                return None
            texts.extend(value)
            lead["tags"] = list(value)
            continue
        if type(value) is not str or value != value.strip():
            return None
        texts.append(value)
        if key in _TEXT_MAX:
            if len(value) > _TEXT_MAX[key]:
                return None
            if key == "phone" and not 5 <= len(normalize_phone(value) or "") <= 20:
                return None
        elif key == "email":
            value = plain_email(value)
            if value is None:
                return None
        elif key == "source":
            if value not in _SOURCES:
                return None
        elif not 1 <= len(value) <= (64 if key == "pool" else 32):   # pool, campaign_id
            return None
        lead[key] = value
    if not lead["name"] or _SURROGATE.search("".join(texts)):
        return None
    return lead


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
