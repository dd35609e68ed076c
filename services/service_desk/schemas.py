"""Input the service desk accepts (validated again here: the gateway is not the only caller).

Fields a client may not set (owner, team, status, SLA deadlines, number) are not
in these models and are ignored when sent.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["phone", "email", "web", "wechat"]
Category = Literal["complaint", "inquiry", "fault", "suggestion"]
Priority = Literal["low", "normal", "high", "urgent"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class TicketCreate(_Input):
    customer_id: str = Field(min_length=1, max_length=32)
    contact_id: str | None = Field(default=None, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    channel: Channel
    category: Category
    priority: Priority = "normal"
    assignee_id: str | None = Field(default=None, max_length=32)
