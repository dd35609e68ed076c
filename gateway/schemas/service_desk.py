"""Tickets (客户反馈)."""
from __future__ import annotations

from pydantic import ConfigDict, Field

from gateway.schemas.common import (
    ID_EXAMPLE,
    InputModel,
    PublicModel,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    UtcTime,
)

_TICKET_EXAMPLE = {
    "customer_id": ID_EXAMPLE, "title": "设备运行异响", "description": "3 号产线主轴运行时有异响",
    "channel": "phone", "category": "fault", "priority": "high",
}


class TicketCreate(InputModel):
    """Status, number and SLA deadlines are set by the service desk."""

    customer_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    channel: TicketChannel
    category: TicketCategory
    priority: TicketPriority = TicketPriority.normal
    contact_id: str | None = None
    assignee_id: str | None = Field(None, description="an active service user to handle it")

    model_config = ConfigDict(json_schema_extra={"examples": [_TICKET_EXAMPLE]})


class TicketPublic(PublicModel):
    id: str
    customer_id: str | None = None
    contact_id: str | None = None
    title: str | None = None
    description: str | None = None
    channel: str | None = None
    category: str | None = None
    priority: str | None = None
    status: str | None = Field(None, description="open | in_progress | resolved | closed | "
                                                 "reopened")
    number: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    first_response_due: UtcTime | None = Field(None, description="SLA: first answer by")
    resolution_due: UtcTime | None = Field(None, description="SLA: resolved by")
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d09", **_TICKET_EXAMPLE, "status": "open",
        "assignee_id": None, "created_at": "2025-03-01T08:00:00Z"}]})
