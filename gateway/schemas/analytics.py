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
