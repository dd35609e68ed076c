"""Analytics read models: funnel (销售漏斗图), activity (业务关注), briefing (销售简报),
rankings (排行榜), series, forecast, customer value (客户价值), churn risk (流失预警) and
campaign ROI (市场活动)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import Field

from crmkit.errors import ValidationFailed
from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.analytics import (
    ActivityItem,
    Briefing,
    ChurnRisk,
    CustomerProfile,
    CustomerValueReport,
    Forecast,
    Funnel,
    Rankings,
    Series,
)
from gateway.schemas.common import Page, PublicModel

router = ResourceRouter(prefix=f"{API}/analytics", tags=["analytics"], responses=ERROR_RESPONSES,
                        dependencies=[requires("analytics.read")])


@router.get("/funnel", response_model=Funnel, summary="Sales funnel")
async def funnel(
    user: CurrentUser,
    rpc: Rpc,
    pipeline_id: str | None = None,
    owner_id: str | None = None,
    team_id: str | None = None,
    start: Annotated[dt.date | None, Query(description="first day (business time zone)")]
    = None,
    end: Annotated[dt.date | None, Query(description="last day, inclusive")] = None,
) -> Any:
    """Per stage of the pipeline (default: the main one): count and amount of the opportunities
    that reached it and the conversion rate from the previous stage, plus the overall lead →
    customer → opportunity → won conversion; within your data scope."""
    if start and end and end < start:
        raise ValidationFailed("validation_error", "end is before start", [
            {"loc": ["query", "end"], "msg": "must not be before start", "type": "value_error"}])
    filters = {"team_id": team_id} if team_id else {}  # optional beyond docs/rpc.md
    return await rpc.call("analytics", "funnel", principal=user.principal,
                          pipeline_id=pipeline_id, owner_id=owner_id,
                          start=start.isoformat() if start else None,
                          end=end.isoformat() if end else None, **filters)


@router.get("/activity", response_model=Page[ActivityItem], summary="Activity feed")
async def activity(
    user: CurrentUser,
    rpc: Rpc,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The latest business events in your data scope, newest first."""
    return await rpc.call("analytics", "activity", principal=user.principal, cursor=cursor,
                          limit=limit)


Period = Literal["day", "week", "month"]
BriefingMetric = Literal["new_leads", "lead_claims", "follow_ups", "new_customers",
                         "new_opportunities", "won_opportunities", "won_amount",
                         "lost_opportunities", "contracts_signed", "contract_amount", "payments",
                         "overdue_receivables", "overdue_amount", "refunds", "tickets_opened",
                         "tickets_resolved"]
RankedMetric = Literal["contract_amount", "payments", "follow_ups", "new_customers",
                       "won_amount", "new_opportunities"]


@router.get("/briefing", response_model=Briefing, summary="Sales briefing (销售简报)")
async def briefing(
    user: CurrentUser,
    rpc: Rpc,
    period: Period = "day",
    date: Annotated[dt.date | None, Query(description="a day in the period (default: today, "
                                          "business time zone)")] = None,
    scope: Literal["me", "team", "company"] = "me",
) -> Any:
    """Every briefing figure of the day, ISO week or month containing `date`, with the
    previous period and the change: new leads, claims, follow-ups, new customers and
    opportunities, won amount, contracts signed, payments, overdue receivables, refunds and
    tickets opened/resolved. `team` = you and your sub-teams' members; `company` = everything
    when you see all, else only your visible part (`complete: false`)."""
    return await rpc.call("analytics", "briefing", principal=user.principal, period=period,
                          date=date.isoformat() if date else None, scope=scope)


@router.get("/rankings", response_model=Rankings, summary="Rankings (排行榜)")
async def rankings(
    user: CurrentUser,
    rpc: Rpc,
    metric: RankedMetric = "contract_amount",
    period: Period = "month",
    date: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    """Owners ranked by the metric over the period containing `date`, within your scope."""
    return await rpc.call("analytics", "rankings", principal=user.principal, metric=metric,
                          period=period, date=date.isoformat() if date else None, limit=limit)


@router.get("/series", response_model=Series, summary="Daily series (实时数据呈现)")
async def series(
    user: CurrentUser,
    rpc: Rpc,
    metric: BriefingMetric = "new_leads",
    start: Annotated[dt.date | None, Query(description="first day (default: 29 days before "
                                           "end)")] = None,
    end: Annotated[dt.date | None, Query(description="last day, inclusive (default: today)")]
    = None,
) -> Any:
    """Per business day: count and amount of the metric's events in your scope (≤ 366 days)."""
    return await rpc.call("analytics", "series", principal=user.principal, metric=metric,
                          start=start.isoformat() if start else None,
                          end=end.isoformat() if end else None)


@router.get("/forecast", response_model=Forecast, summary="Weighted pipeline forecast")
async def forecast(
    user: CurrentUser,
    rpc: Rpc,
    start: Annotated[dt.date | None, Query(description="first close month (any day in it)")]
    = None,
    end: Annotated[dt.date | None, Query(description="last close month (any day in it)")]
    = None,
    owner_id: str | None = None,
    pipeline_id: str | None = None,
) -> Any:
    """Open opportunities by expected close month: amount and amount × stage probability."""
    return await rpc.call("analytics", "forecast", principal=user.principal,
                          start=start.isoformat() if start else None,
                          end=end.isoformat() if end else None, owner_id=owner_id,
                          pipeline_id=pipeline_id)


@router.get("/customer-value", response_model=CustomerValueReport,
            summary="Customer value: RFM, 80/20, pyramid (客户金字塔)")
async def customer_value(
    user: CurrentUser,
    rpc: Rpc,
    owner_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """RFM scores per customer (highest net revenue first), the revenue share of the top 20 %
    of customers and the pyramid tiers, within your scope. Definitions: docs/analytics.md."""
    return await rpc.call("analytics", "customer_value", principal=user.principal,
                          owner_id=owner_id, cursor=cursor, limit=limit)


@router.get("/customers/{customer_id}/profile", response_model=CustomerProfile,
            summary="7P customer profile")
async def customer_profile(customer_id: str, user: CurrentUser, rpc: Rpc) -> Any:
    """The 7P analysis of one customer: profiling, persistency, profitability (refunds and
    service hours count against it), performance, prospecting, product and promotion; 404
    outside your scope."""
    return await rpc.call("analytics", "customer_profile", principal=user.principal,
                          customer_id=customer_id)


@router.get("/churn-risk", response_model=ChurnRisk, summary="Churn warning (流失预警)")
async def churn_risk(
    user: CurrentUser,
    rpc: Rpc,
    multiple: Annotated[float | None, Query(ge=1, le=10, description="silence longer than "
                                            "this × the mean purchase interval (default 1.5)")]
    = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Customers at risk: silent for longer than `multiple` × their mean interval between
    contracts, or with open complaints; within your scope."""
    return await rpc.call("analytics", "churn_risk", principal=user.principal,
                          multiple=multiple, cursor=cursor, limit=limit)


# -- explainable scoring (issue 12; docs/analytics.md § Scoring) --------------------------------

@router.get("/scoring/models", summary="The newest scoring models")
async def scoring_models(user: CurrentUser, rpc: Rpc) -> Any:
    """The newest lead-conversion and customer-repurchase models: version, fitted_at,
    samples, held-out AUC and each feature's coefficient with its Chinese/English label."""
    return await rpc.call("analytics", "scoring_models", principal=user.principal)


@router.post("/scoring/refit", summary="Refit the scoring models now (admin)")
async def refit_scoring(user: CurrentUser, rpc: Rpc) -> Any:
    """Fits both models from the whole history now, publishes the lead model to the leads
    service and rescores every customer; admins only (403 otherwise)."""
    return await rpc.call("analytics", "refit_scoring", principal=user.principal,
                          timeout=120)


# -- campaign ROI (市场活动, the promotion P; docs/analytics.md § Campaigns) -------------------

class CampaignFigures(PublicModel):
    """Money as decimal strings; a ratio over zero is null."""

    budget: str = Field(examples=["10000.00"])
    leads: int = Field(description="leads carrying the campaign")
    customers: int = Field(description="customers created from those leads (converted)")
    opportunities: int = Field(description="opportunities of those customers (any status)")
    won_opportunities: int
    won_opportunity_amount: str = Field(examples=["100000.00"])
    won_customers: int = Field(description="customers with a signed contract or a won "
                                           "opportunity")
    revenue: str = Field(description="Σ signed contract totals", examples=["100000.00"])
    refunds: str = Field(examples=["5000.00"])
    won_amount: str = Field(description="revenue − refunds", examples=["95000.00"])
    cost_per_lead: str | None = Field(None, description="budget / leads", examples=["3333.33"])
    cost_per_won_customer: str | None = Field(None, description="budget / won customers",
                                              examples=["10000.00"])
    lead_conversion_rate: str | None = Field(None, description="customers / leads",
                                             examples=["0.6667"])
    roi: str | None = Field(None, description="(won amount − budget) / budget; null when the "
                                              "budget is 0", examples=["8.5000"])


class CampaignRoi(CampaignFigures):
    campaign_id: str
    name: str | None = None
    channel: str | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    owner_id: str | None = None


class CampaignTotal(CampaignFigures):
    campaigns: int


class CampaignReport(PublicModel):
    start: dt.date | None = None
    end: dt.date | None = None
    channel: str | None = None
    items: list[CampaignRoi]
    total: CampaignTotal


@router.get("/campaigns", response_model=CampaignReport,
            summary="Campaign ROI (市场活动投入产出)", dependencies=[requires("campaigns.report")])
async def campaign_report(
    user: CurrentUser,
    rpc: Rpc,
    start: Annotated[dt.date | None, Query(description="campaigns running on or after this "
                                                       "day")] = None,
    end: Annotated[dt.date | None, Query(description="campaigns running on or before this "
                                                     "day")] = None,
    channel: Annotated[Literal["expo", "online_ad", "wechat", "email", "telemarketing",
                               "referral"] | None, Query()] = None,
) -> Any:
    """Every campaign whose period overlaps `[start, end]` (and of `channel`): leads,
    converted customers, their opportunities and won business, cost per lead, cost per won
    customer and ROI, with the total over the listed campaigns. Company-wide figures:
    managers and administrators."""
    if start and end and end < start:
        raise ValidationFailed("validation_error", "end is before start", [
            {"loc": ["query", "end"], "msg": "must not be before start", "type": "value_error"}])
    return await rpc.call("analytics", "campaign_report", principal=user.principal,
                          start=start.isoformat() if start else None,
                          end=end.isoformat() if end else None, channel=channel)


@router.get("/campaigns/{campaign_id}", response_model=CampaignRoi,
            summary="One campaign's ROI", dependencies=[requires("campaigns.report")])
async def campaign_detail(campaign_id: Annotated[str, Path(max_length=64)], user: CurrentUser,
                          rpc: Rpc) -> Any:
    """404 `campaign_not_found` until analytics has received the campaign's events."""
    return await rpc.call("analytics", "campaign_detail", principal=user.principal,
                          campaign_id=campaign_id)
