"""Pipelines (自定义流程) and opportunities (商机)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from gateway.schemas.common import ID_EXAMPLE, InputModel, Money, PublicModel, UtcTime

StageKind = Literal["open", "won", "lost"]


class StageIn(InputModel):
    name: str = Field(min_length=1, max_length=50, examples=["需求确认"])
    probability: int = Field(ge=0, le=100, description="win probability in percent",
                             examples=[30])
    kind: StageKind | None = Field(None, description="open, won or lost; by default 100% is "
                                                     "the won stage, 0% the lost one")


class PipelineCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    stages: list[StageIn] = Field(min_length=2, max_length=20)

    @field_validator("stages")
    @classmethod
    def _unique_stage_names(cls, stages: list[StageIn]) -> list[StageIn]:
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be unique")
        return stages

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "项目型销售", "stages": [
            {"name": "初步接洽", "probability": 10}, {"name": "需求确认", "probability": 30},
            {"name": "方案报价", "probability": 50}, {"name": "谈判审核", "probability": 70},
            {"name": "赢单", "probability": 100}, {"name": "输单", "probability": 0}]}]})


class StagePublic(PublicModel):
    name: str
    probability: int | float | None = None
    kind: str | None = None


class PipelinePublic(PublicModel):
    id: str
    name: str | None = None
    stages: list[StagePublic] | None = None
    is_default: bool | None = None
    created_at: UtcTime | None = None


class OpportunityCreate(InputModel):
    """Stage, status and owner are set by the sales service (first stage, open, you)."""

    customer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    amount: Money
    currency: Literal["CNY"] = "CNY"
    expected_close_date: dt.date | None = None
    pipeline_id: str | None = Field(None, description="defaults to the default pipeline")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": ID_EXAMPLE, "name": "宏达机械 2025 年 CRM 采购", "amount": "128000.00",
        "expected_close_date": "2025-06-30"}]})


class OpportunityPublic(PublicModel):
    id: str
    customer_id: str | None = None
    name: str | None = None
    amount: Decimal | None = Field(None, examples=["128000.00"])
    currency: str | None = None
    expected_close_date: dt.date | None = None
    pipeline_id: str | None = None
    stage: str | None = None
    probability: int | float | None = None
    status: str | None = Field(None, description="open | won | lost")
    lost_reason: str | None = None
    closed_at: UtcTime | None = None
    owner_id: str | None = None
    team_id: str | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID_EXAMPLE, "customer_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d02",
        "name": "宏达机械 2025 年 CRM 采购", "amount": "128000.00",
        "expected_close_date": "2025-06-30", "pipeline_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d03",
        "stage": "需求确认", "status": "open", "owner_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d01"}]})


class StageChange(InputModel):
    stage: str = Field(min_length=1, max_length=50, examples=["方案报价"])
    lost_reason: str | None = Field(None, min_length=1, max_length=500,
                                    description="why the deal was lost (for a lost stage)")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"stage": "方案报价"}, {"stage": "输单", "lost_reason": "预算被砍"}]})
