"""Input the sales service accepts (validated again here: the gateway is not the only caller).

Fields a client may not set (owner, team, stage, probability, status) are not
in these models and are ignored when sent.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class StageInput(_Input):
    name: str = Field(min_length=1, max_length=50)
    probability: int
    kind: Literal["open", "won", "lost"] | None = None


class PipelineCreate(_Input):
    name: str = Field(min_length=1, max_length=100)
    stages: list[StageInput] = Field(min_length=1, max_length=50)


class OpportunityCreate(_Input):
    customer_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    currency: Literal["CNY"] = "CNY"
    expected_close_date: date | None = None
    pipeline_id: str | None = Field(default=None, max_length=32)
