"""The notification inbox (移动消息提醒)."""
from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from gateway.schemas.common import PublicModel, UtcTime


class NotificationPublic(PublicModel):
    id: str
    type: str
    title: str
    body: str
    data: dict[str, Any]
    event_id: str
    created_at: UtcTime
    read_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d10", "type": "lead.assigned",
        "title": "线索已分配给你", "body": "线索「李娜 · 杭州云栖科技有限公司」已分配给你",
        "data": {"lead_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d11",
                 "owner_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d01"},
        "event_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d12", "created_at": "2025-03-01T08:00:00Z",
        "read_at": None}]})


class ReadAll(PublicModel):
    marked: int
