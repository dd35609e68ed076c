"""Leads (线索), follow-ups and public-pool rules."""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from gateway.schemas.common import (
    ID_EXAMPLE,
    Email,
    FollowUpKind,
    InputModel,
    LeadSource,
    Phone,
    PublicModel,
    Tags,
    UtcTime,
)

_LEAD_EXAMPLE = {
    "name": "李娜", "company": "杭州云栖科技有限公司", "title": "采购经理",
    "phone": "138 0013 8000", "email": "li.na@yunqi.example.cn", "source": "expo",
    "region": "浙江", "industry": "软件", "notes": "展会上对 CRM 私有化部署感兴趣",
    "tags": ["华东", "展会"],
}


def phone_digits(value: str) -> int:
    """Digits of a phone once normalised: full-width folded, +86 / 0086 dropped."""
    import unicodedata

    digits = "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdigit())
    if value.strip().startswith(("+", "＋")) and digits.startswith("86") and len(digits) > 11:
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return len(digits)


class LeadFields(InputModel):
    company: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=100)
    phone: Phone | None = None
    email: Email | None = None
    region: str | None = Field(None, max_length=100)
    industry: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)

    @field_validator("phone")
    @classmethod
    def _phone_digits(cls, value: str | None) -> str | None:
        if value and not 5 <= phone_digits(value) <= 20:
            raise ValueError("a phone must have 5 to 20 digits")
        return value or None


class LeadCreate(LeadFields):
    name: str = Field(min_length=1, max_length=100, description="contact person")
    source: LeadSource = LeadSource.other
    tags: Tags = []
    pool: str = Field("default", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                      description="the public pool the lead belongs to")
    owner_id: str | None = Field(
        None, description="omit to put the lead in the public pool; only managers and admins "
                          "may name another user")
    campaign_id: str | None = Field(None, min_length=1, max_length=32,
                                    description="the campaign (市场活动) the lead came from; "
                                                "unknown: 422 `unknown_campaign`")

    model_config = ConfigDict(json_schema_extra={"examples": [_LEAD_EXAMPLE]})


class LeadUpdate(LeadFields):
    """Owner, status and customer are changed only by claim/release/assign/convert."""

    not_nullable: ClassVar[tuple[str, ...]] = ("name", "source", "tags")

    name: str | None = Field(None, min_length=1, max_length=100)
    source: LeadSource | None = None
    tags: Tags | None = None
    campaign_id: str | None = Field(None, min_length=1, max_length=32,
                                    description="null detaches the lead from its campaign")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"title": "采购总监", "phone": "+86-138-0013-8000", "tags": ["华东", "重点"]}]})


class ScoreReason(PublicModel):
    feature: str = Field(description="source, campaign_id, industry, region, follow_ups, "
                         "days_since_follow_up or age_days")
    value: str | None = None
    label_zh: str = Field(examples=["来源：转介绍"])
    label_en: str = Field(examples=["Source: referral"])
    contribution: float = Field(description="push on the log-odds against the average lead")
    direction: Literal["up", "down"]


class LeadPublic(PublicModel):
    id: str
    pool: str | None = None
    name: str | None = None
    company: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    source: str | None = None
    region: str | None = None
    industry: str | None = None
    notes: str | None = None
    tags: list[str] | None = None
    status: str | None = Field(None, description="new | following | converted | invalid")
    owner_id: str | None = Field(None, description="null: the lead is in the public pool")
    claimed_at: UtcTime | None = None
    follow_up_deadline: UtcTime | None = None
    last_follow_up_at: UtcTime | None = None
    customer_id: str | None = None
    campaign_id: str | None = Field(None, description="the campaign (市场活动) it came from")
    score: int | None = Field(None, ge=0, le=100, description="conversion score (线索评分): "
                              "the probability, in %, that it converts within the model's "
                              "window; null before any model arrived")
    score_reasons: list[ScoreReason] | None = Field(None, description="the factors that "
                                                    "raised or lowered the score most")
    score_model_version: int | None = None
    scored_at: UtcTime | None = None
    previous_owner_id: str | None = None
    convert_deadline: UtcTime | None = Field(None, description="claim + the source's "
                                             "not-converted days; null: no such rule")
    due_at: UtcTime | None = Field(None, description="the earlier deadline: after its "
                                   "business day (Asia/Shanghai) the lead returns to the pool")
    locked: bool | None = Field(None, description="locked leads never return automatically")
    locked_by: str | None = None
    locked_at: UtcTime | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID_EXAMPLE, **_LEAD_EXAMPLE, "status": "following",
        "owner_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d01", "claimed_at": "2025-03-01T08:00:00Z",
        "follow_up_deadline": "2025-03-08T08:00:00Z", "last_follow_up_at": None,
        "customer_id": None, "created_at": "2025-03-01T07:00:00Z",
        "updated_at": "2025-03-01T08:00:00Z"}]})


class ReleaseRequest(InputModel):
    reason: str = Field(min_length=1, max_length=500, examples=["客户暂无预算"])


class AssignRequest(InputModel):
    owner_id: str = Field(min_length=1, max_length=64, examples=[ID_EXAMPLE])


class FollowUpCreate(InputModel):
    kind: FollowUpKind
    content: str = Field(min_length=1, max_length=5000)
    occurred_at: AwareDatetime | None = Field(None, description="defaults to now")
    next_follow_up_at: AwareDatetime | None = Field(
        None, description="becomes a planned follow-up in the calendar")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "call", "content": "电话沟通需求，约下周二上门演示",
         "occurred_at": "2025-03-03T10:30:00+08:00",
         "next_follow_up_at": "2025-03-11T14:00:00+08:00"}]})


class FollowUpPublic(PublicModel):
    id: str
    lead_id: str | None = None
    kind: str | None = None
    content: str | None = None
    occurred_at: UtcTime | None = None
    next_follow_up_at: UtcTime | None = None
    author_id: str | None = None
    created_at: UtcTime | None = None


class TransferRequest(InputModel):
    owner_id: str = Field(min_length=1, max_length=64, examples=[ID_EXAMPLE])
    reason: str = Field(min_length=1, max_length=500, examples=["区域调整，转给华南同事"])


class LockRequest(InputModel):
    reason: str | None = Field(None, max_length=500, examples=["重点客户，暂不退回公海"])


class LeadActionPublic(PublicModel):
    """One entry of a lead's action log (操作记录)."""

    id: str
    lead_id: str | None = None
    actor_id: str | None = Field(None, description="null: the system (the return job)")
    action: str | None = Field(None, examples=["transferred"])
    field: str | None = Field(None, examples=["owner_id"])
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    reason: str | None = None
    at: UtcTime | None = None

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ImportRow(PublicModel):
    row: int = Field(description="line of the file (the header is line 1)")
    status: str = Field(description="duplicate | rejected")
    reason: str | None = Field(None, examples=["duplicate_in_store"])
    existing_id: str | None = None
    errors: list | None = None


class ImportReport(PublicModel):
    created: int
    duplicates: int
    rejected: int
    rows: list[ImportRow] = Field(description="the rows not created (at most 1000)")
    truncated: bool = Field(False, description="more rows were not created than listed")


class ReturnCondition(InputModel):
    sources: list[LeadSource] | None = Field(
        None, min_length=1, description="lead sources this applies to; omit: every source")
    no_follow_up_days: int | None = Field(
        None, ge=1, le=365, description="days without a follow-up (omit: follow_up_days)")
    not_converted_days: int | None = Field(
        None, ge=1, le=3650, description="days after the claim without conversion "
                                         "(omit: no such rule)")


class PoolRules(InputModel):
    """Rules of one public pool (公海规则); a field left out takes its default."""

    follow_up_days: int | None = Field(
        None, ge=1, le=365, description="days a claimed lead may go without a follow-up "
                                        "before it returns to the pool (default 15)")
    max_leads_per_rep: int | None = Field(
        None, ge=1, le=100_000, description="leads a rep may hold at once (default 200)")
    max_claims_per_day: int | None = Field(
        None, ge=1, le=10_000, description="claims per rep per day (default 50)")
    reclaim_cooldown_days: int | None = Field(
        None, ge=0, le=365, description="days before a returned lead's previous owner may "
                                        "claim it again (default 7)")
    warn_days_before: int | None = Field(
        None, ge=0, le=365, description="days before the deadline the owner is warned "
                                        "(default 2; 0: no warning)")
    return_conditions: list[ReturnCondition] | None = Field(
        None, max_length=20, description="per lead source; the first matching entry applies")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "follow_up_days": 7, "max_leads_per_rep": 200, "max_claims_per_day": 20,
        "reclaim_cooldown_days": 3, "warn_days_before": 1,
        "return_conditions": [{"sources": ["expo"], "no_follow_up_days": 3,
                               "not_converted_days": 30}]}]})


class PoolRulesPublic(PublicModel):
    pool: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pool": "default", "max_leads_per_rep": 200, "max_claims_per_day": 20,
        "follow_up_days": 7, "reclaim_cooldown_days": 3, "warn_days_before": 1}]})


class PoolRulesPreview(InputModel):
    rules: PoolRules | None = Field(None, description="rules to try; omit to use the saved ones")


class PoolCreate(InputModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["east"])
    title: str | None = Field(None, max_length=100, examples=["华东公海"])
    members: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        [], max_length=1000, description="user ids who work this pool")


class PoolMembers(InputModel):
    user_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=1000)


class PoolPublic(PublicModel):
    name: str
    title: str | None = None
    members: list[str] | None = Field(None, description="null for `default`: everyone")
    rules: dict | None = None


class ReturnJobResult(PublicModel):
    returned: int
    warned: int
    at: UtcTime | None = None
