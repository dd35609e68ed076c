"""Analytics read models: the sales funnel and the activity feed."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from gateway.schemas.common import PublicModel, UtcTime


class FunnelStage(PublicModel):
    stage: str | None = None
    count: int | None = Field(None, description="opportunities that reached the stage")
    amount: Decimal | None = Field(None, examples=["3600000.00"])
    conversion_rate: Decimal | None = Field(
        None, description="share of the previous stage's opportunities that reached this one "
                          "(decimal string; null for the first stage)", examples=["0.5500"])


class FunnelOverall(PublicModel):
    leads: int | None = None
    customers: int | None = None
    opportunities: int | None = None
    won: int | None = None
    lead_to_customer: Decimal | None = None
    customer_to_opportunity: Decimal | None = None
    opportunity_to_won: Decimal | None = None


class Funnel(PublicModel):
    pipeline_id: str | None = None
    start: UtcTime | None = None
    end: UtcTime | None = None
    stages: list[FunnelStage] | None = None
    overall: FunnelOverall | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pipeline_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d03",
        "start": "2024-12-31T16:00:00Z", "end": "2025-03-31T16:00:00Z",
        "stages": [{"stage": "初步接洽", "count": 120, "amount": "3600000.00",
                    "conversion_rate": None},
                   {"stage": "需求确认", "count": 66, "amount": "2100000.00",
                    "conversion_rate": "0.5500"}],
        "overall": {"leads": 800, "customers": 160, "opportunities": 120, "won": 30,
                    "lead_to_customer": "0.2000", "customer_to_opportunity": "0.7500",
                    "opportunity_to_won": "0.2500"}}]})


class ActivityItem(PublicModel):
    id: str | None = None
    type: str | None = Field(None, examples=["lead.claimed"])
    occurred_at: UtcTime | None = None
    source: str | None = None
    actor_id: str | None = None
    owner_id: str | None = None
    subject_id: str | None = None
    summary: str | None = None
    data: dict[str, Any] | None = None


class BriefingFigure(PublicModel):
    metric: str | None = Field(None, examples=["contract_amount"])
    label: str | None = Field(None, examples=["签约金额"])
    measure: str | None = Field(None, description="count or amount", examples=["amount"])
    value: int | Decimal | None = Field(None, examples=["120000.00"])
    previous: int | Decimal | None = Field(None, examples=["80000.00"])
    change: int | Decimal | None = Field(None, examples=["40000.00"])
    change_rate: Decimal | None = Field(None, description="(value − previous) / previous; null "
                                        "when previous is zero", examples=["0.5000"])


class Briefing(PublicModel):
    period: str | None = Field(None, examples=["week"])
    scope: str | None = Field(None, examples=["team"])
    start: str | None = Field(None, description="first business day", examples=["2026-03-02"])
    end: str | None = Field(None, description="last business day", examples=["2026-03-08"])
    previous_start: str | None = None
    previous_end: str | None = None
    complete: bool | None = Field(None, description="false when scope=company was asked by a "
                                  "caller who does not see all (only the visible part)")
    figures: list[BriefingFigure] | None = None


class RankingItem(PublicModel):
    rank: int | None = None
    owner_id: str | None = None
    value: int | Decimal | None = None


class Rankings(PublicModel):
    metric: str | None = None
    measure: str | None = None
    period: str | None = None
    scope: str | None = None
    start: str | None = None
    end: str | None = None
    items: list[RankingItem] | None = None


class SeriesPoint(PublicModel):
    date: str | None = Field(None, examples=["2026-03-02"])
    count: int | None = None
    amount: Decimal | None = None


class Series(PublicModel):
    metric: str | None = None
    measure: str | None = None
    scope: str | None = None
    start: str | None = None
    end: str | None = None
    points: list[SeriesPoint] | None = None


class ForecastMonth(PublicModel):
    month: str | None = Field(None, description="expected close month (null: no date)",
                              examples=["2026-04"])
    opportunities: int | None = None
    amount: Decimal | None = None
    weighted: Decimal | None = Field(None, description="Σ amount × stage probability")


class Forecast(PublicModel):
    months: list[ForecastMonth] | None = None
    total_amount: Decimal | None = None
    total_weighted: Decimal | None = None


class CustomerValueItem(PublicModel):
    customer_id: str | None = None
    name: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    recency_days: int | None = None
    frequency: int | None = None
    monetary: Decimal | None = None
    r: int | None = None
    f: int | None = None
    m: int | None = None
    score: str | None = Field(None, examples=["545"])
    tier: str | None = Field(None, examples=["gold"])


class CustomerValueReport(PublicModel):
    customers: int | None = None
    pareto: dict[str, Any] | None = None
    pyramid: list[dict[str, Any]] | None = None
    items: list[CustomerValueItem] | None = None
    next_cursor: str | None = None


class CustomerProfile(PublicModel):
    """The 7P analysis (客户7P分析); fields of each P: docs/analytics.md."""

    customer_id: str | None = None
    profiling: dict[str, Any] | None = Field(None, description="客户概况")
    persistency: dict[str, Any] | None = Field(None, description="客户忠诚度")
    profitability: dict[str, Any] | None = Field(None, description="客户利润")
    performance: dict[str, Any] | None = Field(None, description="客户性能")
    prospecting: dict[str, Any] | None = Field(None, description="客户未来")
    product: dict[str, Any] | None = Field(None, description="客户产品")
    promotion: dict[str, Any] | None = Field(None, description="客户促销")


class ChurnRiskItem(PublicModel):
    customer_id: str | None = None
    name: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    reason: str | None = Field(None, examples=["purchase_overdue"])
    open_complaints: int | None = None
    silence_days: float | None = None
    mean_interval_days: float | None = None


class ChurnRisk(PublicModel):
    multiple: float | None = None
    total: int | None = None
    items: list[ChurnRiskItem] | None = None
    next_cursor: str | None = None
