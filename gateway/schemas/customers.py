"""Customers (客户)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from gateway.schemas.common import (
    ID_EXAMPLE,
    CustomerLevel,
    CustomerType,
    Email,
    InputModel,
    LeadSource,
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
