"""Webhook subscriptions and their delivery log."""
from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from gateway.schemas.common import ID_EXAMPLE, InputModel, PublicModel, UtcTime

EventPattern = Field(min_length=1, max_length=64, pattern=r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")


class WebhookCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, examples=["ERP 回款同步"])
    url: str = Field(min_length=8, max_length=2000, examples=["https://erp.example.cn/crm-hook"])
    events: list[str] = Field(min_length=1, max_length=50,
                              description='event types: "lead.claimed", "lead.*" or "*"',
                              examples=[["payment.recorded", "contract.*"]])
    filters: dict[str, Any] = Field(
        default_factory=dict, max_length=20,
        description="equality on data fields; a list value matches any of its items",
        examples=[{"owner_id": ID_EXAMPLE}])

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "ERP 回款同步", "url": "https://erp.example.cn/crm-hook",
         "events": ["payment.*"], "filters": {}}]})

    @field_validator("events")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        import re

        shape = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")
        for item in value:
            if not shape.match(item):
                raise ValueError(f"{item!r} is not an event type or pattern")
        return value

    @field_validator("filters")
    @classmethod
    def _scalar_filters(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, wanted in value.items():
            items = wanted if isinstance(wanted, list) else [wanted]
            if not all(v is None or isinstance(v, (str, int, float, bool)) for v in items):
                raise ValueError(f"filter {key!r} must be a scalar or a list of scalars")
        return value


class WebhookPublic(PublicModel):
    id: str
    name: str
    url: str
    events: list[str]
    filters: dict[str, Any]
    active: bool
    created_by: str
    created_at: UtcTime

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="HMAC key of X-CRM-Signature; shown only in this answer")


class AttemptPublic(PublicModel):
    number: int
    at: UtcTime
    ok: bool
    response_code: int | None = None
    duration_ms: int
    error: str | None = None


class DeliveryPublic(PublicModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending | succeeded | dead")
    attempts: int
    next_attempt_at: UtcTime | None = None
    last_error: str | None = None
    created_at: UtcTime
    attempt_log: list[AttemptPublic]
