"""Input the customers service accepts."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
)

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


# -- segments (客户分群) -------------------------------------------------------------------------

ValueTier = Literal["platinum", "gold", "iron", "lead", "inactive", "unrated"]
NO_NUL = r"^[^\x00]*$"     # PostgreSQL text cannot hold NUL: refuse it as input (422)


def _text(max_length: int, min_length: int = 1):
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length, pattern=NO_NUL)]


Text100 = _text(100)
Tag = _text(30)
UserId = _text(64)


class SegmentFilters(BaseModel):
    """Which customers a segment holds. Every key given must hold (AND); within a list any
    value matches (OR); ``tags``: the customer has any of them. An omitted key is no
    condition; an empty list is refused (omit the key instead). Unknown keys are refused.

    ``value_tier``: the pyramid tier analytics sent (``customer.value_changed``);
    ``unrated`` = analytics has not valued the customer yet. ``team_id``: customers owned by
    members of the team or of any of its sub-teams (resolved by the caller, see
    ``handlers_segments``)."""

    model_config = ConfigDict(extra="forbid")

    level: list[Level] | None = Field(default=None, min_length=1, max_length=4)
    status: list[Status] | None = Field(default=None, min_length=1, max_length=6)
    industry: list[Text100] | None = Field(default=None, min_length=1, max_length=50)
    region: list[Text100] | None = Field(default=None, min_length=1, max_length=50)
    tags: list[Tag] | None = Field(default=None, min_length=1, max_length=50)
    owner_ids: list[UserId] | None = Field(default=None, min_length=1, max_length=200)
    team_id: UserId | None = None
    value_tier: list[ValueTier] | None = Field(default=None, min_length=1, max_length=6)
    churn_risk: StrictBool | None = None

    def stored(self) -> dict:
        """The filters as kept in the store: only the keys given, lists de-duplicated in
        their first order."""
        out = {}
        for key, value in self.model_dump(exclude_none=True).items():
            out[key] = list(dict.fromkeys(value)) if isinstance(value, list) else value
        return out


class SegmentCreate(_Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: _text(100)
    description: _text(500, 0) | None = None
    shared: StrictBool = False
    filters: SegmentFilters = Field(default_factory=SegmentFilters)


class SegmentUpdate(_Input):
    """PATCH: the fields sent change; ``filters`` replaces the whole filter set."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: _text(100) | None = None
    description: _text(500, 0) | None = None
    shared: StrictBool | None = None
    filters: SegmentFilters | None = None


class ValueChanged(_Input):
    """``customer.value_changed`` data (analytics)."""

    customer_id: str = Field(min_length=1, max_length=64)
    tier: Literal["platinum", "gold", "iron", "lead", "inactive"] | None = None
    r: int = Field(ge=1, le=5)
    f: int = Field(ge=1, le=5)
    m: int = Field(ge=1, le=5)
    churn_risk: StrictBool = False
    churn_reason: str | None = Field(default=None, max_length=40)
