"""The sales calendar (销售日历): your planned visits and follow-ups, day by day."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.customers import Calendar

router = ResourceRouter(prefix=f"{API}/calendar", tags=["customers"], responses=ERROR_RESPONSES)


@router.get("", response_model=Calendar, summary="Your planned visits by day (销售日历)",
            dependencies=[requires("calendar.read")])
async def calendar(user: CurrentUser, rpc: Rpc,
                   start: Annotated[dt.date, Query(description="first day, YYYY-MM-DD")],
                   end: Annotated[dt.date, Query(description="last day (inclusive)")]) -> Any:
    """Plans still `planned`, grouped by calendar day in the business time zone
    (`CRM_TIMEZONE`, Asia/Shanghai); at most 93 days at a time."""
    return await rpc.call("customers", "calendar", principal=user.principal,
                          start=start.isoformat(), end=end.isoformat())
