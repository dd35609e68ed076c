"""Campaigns (市场活动): the marketing actions leads come from — a channel, a budget and a
period. Managers and admins run them; whoever works leads reads them to tag a lead with its
campaign. Their return (leads, customers, won amount, ROI) is `GET /analytics/campaigns`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from fastapi import Path, Query
from pydantic import ConfigDict, Field, model_validator

from gateway.deps import CurrentUser, DatabaseDep, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.guards import ensure_assignable
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import ID_EXAMPLE, InputModel, Money, Page, PublicModel, UtcTime

router = ResourceRouter(prefix=f"{API}/campaigns", tags=["campaigns"], responses=ERROR_RESPONSES)
CampaignId = Annotated[str, Path(max_length=64, description="the campaign's id")]


class CampaignChannel(StrEnum):
    """展会, 网络广告, 微信, 邮件, 电话营销, 转介绍."""

    expo = "expo"
    online_ad = "online_ad"
    wechat = "wechat"
    email = "email"
    telemarketing = "telemarketing"
    referral = "referral"


_EXAMPLE = {"name": "2026 上海工博会", "channel": "expo", "budget": "50000.00",
            "starts_on": "2026-09-15", "ends_on": "2026-09-19"}


def _period(starts_on: dt.date | None, ends_on: dt.date | None) -> None:
    if starts_on is not None and ends_on is not None and starts_on > ends_on:
        raise ValueError("starts_on must not be after ends_on")


class CampaignCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, description="unique")
    channel: CampaignChannel
    budget: Money = Field(description="what the campaign costs (≥ 0, 2 places)")
    starts_on: dt.date = Field(description="first day (business days, Asia/Shanghai)")
    ends_on: dt.date = Field(description="last day, included; ≥ starts_on")
    owner_id: str | None = Field(None, max_length=64,
                                 description="default: you; an active user you may see")

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    @model_validator(mode="after")
    def _check_period(self) -> CampaignCreate:
        _period(self.starts_on, self.ends_on)
        return self


class CampaignUpdate(InputModel):
    """The fields sent change; none may be null. The period is checked as a whole by the
    service (a new `starts_on` against the stored `ends_on`)."""

    not_nullable: ClassVar[tuple[str, ...]] = ("name", "budget", "starts_on", "ends_on",
                                               "owner_id")

    name: str | None = Field(None, min_length=1, max_length=100)
    budget: Money | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    owner_id: str | None = Field(None, max_length=64)

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"budget": "62000.00", "ends_on": "2026-09-20"}]})

    @model_validator(mode="after")
    def _check_period(self) -> CampaignUpdate:
        _period(self.starts_on, self.ends_on)
        return self


class CampaignPublic(PublicModel):
    id: str = Field(examples=[ID_EXAMPLE])
    name: str
    channel: str
    budget: Decimal = Field(examples=["50000.00"], description="decimal string")
    starts_on: dt.date
    ends_on: dt.date
    owner_id: str | None = None
    created_by: str | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


@router.post("", status_code=201, response_model=CampaignPublic, summary="Create a campaign",
             responses=CONFLICT_RESPONSE, dependencies=[requires("campaigns.write")])
async def create_campaign(body: CampaignCreate, user: CurrentUser, rpc: Rpc,
                          database: DatabaseDep) -> Any:
    """Managers and admins. A name in use: 409 `campaign_name_taken` with `existing_id`;
    a bad channel, a negative or over-precise budget, `ends_on` before `starts_on`: 422."""
    if body.owner_id is not None:
        await ensure_assignable(database, user, body.owner_id)
    return await rpc.call("leads", "create_campaign", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("", response_model=Page[CampaignPublic], summary="List campaigns",
            dependencies=[requires("campaigns.read")])
async def list_campaigns(
    user: CurrentUser,
    rpc: Rpc,
    channel: CampaignChannel | None = None,
    active_on: Annotated[dt.date | None, Query(description="campaigns running that day "
                                                           "(both ends included)")] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100, description="name contains")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Newest first, keyset pages."""
    return await rpc.call("leads", "list_campaigns", principal=user.principal,
                          channel=channel.value if channel else None,
                          active_on=active_on.isoformat() if active_on else None,
                          owner_id=owner_id, q=q, cursor=cursor, limit=limit)


@router.get("/{campaign_id}", response_model=CampaignPublic, summary="Get a campaign",
            dependencies=[requires("campaigns.read")])
async def get_campaign(campaign_id: CampaignId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("leads", "get_campaign", principal=user.principal,
                          campaign_id=campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignPublic, summary="Change a campaign",
              responses=CONFLICT_RESPONSE, dependencies=[requires("campaigns.write")])
async def update_campaign(campaign_id: CampaignId, body: CampaignUpdate, user: CurrentUser,
                          rpc: Rpc, database: DatabaseDep) -> Any:
    """Name, budget, period, owner. The channel does not change (create another campaign)."""
    if body.owner_id is not None:
        await ensure_assignable(database, user, body.owner_id)
    return await rpc.call("leads", "update_campaign", principal=user.principal,
                          campaign_id=campaign_id,
                          data=body.model_dump(mode="json", exclude_unset=True))
