"""Analytics read models: the sales funnel (销售漏斗图) and the activity feed (业务关注)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from crmkit.errors import ValidationFailed
from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API
from gateway.schemas.analytics import ActivityItem, Funnel
from gateway.schemas.common import Page

router = APIRouter(prefix=f"{API}/analytics", tags=["analytics"], responses=ERROR_RESPONSES,
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
