"""Leads (线索), follow-ups and public-pool rules."""
from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

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


class LeadFields(InputModel):
    company: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=100)
    phone: Phone | None = None
    email: Email | None = None
    region: str | None = Field(None, max_length=100)
    industry: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)


class LeadCreate(LeadFields):
    name: str = Field(min_length=1, max_length=100, description="contact person")
    source: LeadSource = LeadSource.other
    tags: Tags = []
    pool: str = Field("default", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                      description="the public pool the lead belongs to")
    owner_id: str | None = Field(
        None, description="omit to put the lead in the public pool; only managers and admins "
                          "may name another user")

    model_config = ConfigDict(json_schema_extra={"examples": [_LEAD_EXAMPLE]})


class LeadUpdate(LeadFields):
    """Owner, status and customer are changed only by claim/release/assign/convert."""

    not_nullable: ClassVar[tuple[str, ...]] = ("name", "source", "tags")

    name: str | None = Field(None, min_length=1, max_length=100)
    source: LeadSource | None = None
    tags: Tags | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"title": "采购总监", "phone": "+86-138-0013-8000", "tags": ["华东", "重点"]}]})


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
                                        "(default 2)")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "follow_up_days": 7, "max_leads_per_rep": 200, "max_claims_per_day": 20,
        "reclaim_cooldown_days": 3, "warn_days_before": 1}]})


class PoolRulesPublic(PublicModel):
    pool: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pool": "default", "max_leads_per_rep": 200, "max_claims_per_day": 20,
        "follow_up_days": 7, "reclaim_cooldown_days": 3, "warn_days_before": 1}]})


class PoolRulesPreview(InputModel):
    rules: PoolRules | None = Field(None, description="rules to try; omit to use the saved ones")
