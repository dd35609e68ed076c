"""Service work orders (服务工单): on-site tests, installations, demonstrations, repairs."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Path, Query

from crmkit.errors import ValidationFailed
from gateway.deps import CurrentUser, DatabaseDep, Rpc, Views, requires
from gateway.errors import ERROR_RESPONSES
from gateway.guards import ensure_active_user, ensure_customer_visible
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.service_desk import (
    WorkOrderCalendar,
    WorkOrderComplete,
    WorkOrderCreate,
    WorkOrderPublic,
    WorkOrderStatus,
)

router = ResourceRouter(prefix=f"{API}/work-orders", tags=["work orders"],
                        responses=ERROR_RESPONSES)
WorkOrderId = Annotated[str, Path(max_length=64, description="the work order's id")]


@router.post("", status_code=201, response_model=WorkOrderPublic,
             summary="Schedule a work order", dependencies=[requires("work_orders.write")])
async def create_work_order(body: WorkOrderCreate, user: CurrentUser, rpc: Rpc,
                            database: DatabaseDep, views: Views) -> Any:
    """The customer must be one you can see (404); the assignee an active user in your
    scope (422); a `contract_id`, if given, a signed contract of the customer (422)."""
    await ensure_active_user(database, body.assignee_id, "assignee_id")
    await ensure_customer_visible(rpc, user.principal, body.customer_id)
    answer = await rpc.call("service_desk", "create_work_order", principal=user.principal,
                            data=body.model_dump(mode="json"))
    await views.changed(body.customer_id)
    return answer


@router.get("", response_model=Page[WorkOrderPublic], summary="List work orders",
            dependencies=[requires("work_orders.read")])
async def list_work_orders(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = None,
    assignee_id: str | None = None,
    start: Annotated[dt.datetime | None, Query(description="scheduled at or after")] = None,
    end: Annotated[dt.datetime | None, Query(description="scheduled before")] = None,
    status: WorkOrderStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed("validation_error", f"{name} needs a time zone offset",
                                   [{"field": name, "message": "no offset"}])
    return await rpc.call("service_desk", "list_work_orders", principal=user.principal,
                          customer_id=customer_id, assignee_id=assignee_id,
                          start=start.isoformat() if start else None,
                          end=end.isoformat() if end else None,
                          status=status.value if status else None, cursor=cursor, limit=limit)


@router.get("/calendar", response_model=WorkOrderCalendar,
            summary="My work orders by business day", dependencies=[requires("work_orders.read")])
async def calendar(user: CurrentUser, rpc: Rpc, start: dt.date, end: dt.date) -> Any:
    """Your work orders scheduled from `start` to `end` (dates in Beijing time, inclusive,
    at most 62 days), grouped by business day."""
    return await rpc.call("service_desk", "calendar", principal=user.principal,
                          start=start.isoformat(), end=end.isoformat())


@router.get("/{work_order_id}", response_model=WorkOrderPublic, summary="Get a work order",
            dependencies=[requires("work_orders.read")])
async def get_work_order(work_order_id: WorkOrderId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("service_desk", "get_work_order", principal=user.principal,
                          work_order_id=work_order_id)


@router.post("/{work_order_id}/start", response_model=WorkOrderPublic,
             summary="Start a work order", dependencies=[requires("work_orders.write")])
async def start_work_order(work_order_id: WorkOrderId, user: CurrentUser, rpc: Rpc,
                           views: Views) -> Any:
    """scheduled → in_progress."""
    answer = await rpc.call("service_desk", "act_on_work_order", principal=user.principal,
                            work_order_id=work_order_id, action="start")
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{work_order_id}/complete", response_model=WorkOrderPublic,
             summary="Complete a work order", dependencies=[requires("work_orders.write")])
async def complete_work_order(work_order_id: WorkOrderId, body: WorkOrderComplete,
                              user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """in_progress → completed with the workload (工作量, hours > 0) and the result."""
    answer = await rpc.call("service_desk", "act_on_work_order", principal=user.principal,
                            work_order_id=work_order_id, action="complete",
                            data=body.model_dump(mode="json"))
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{work_order_id}/cancel", response_model=WorkOrderPublic,
             summary="Cancel a work order", dependencies=[requires("work_orders.write")])
async def cancel_work_order(work_order_id: WorkOrderId, user: CurrentUser, rpc: Rpc,
                            views: Views) -> Any:
    """scheduled | in_progress → cancelled."""
    answer = await rpc.call("service_desk", "act_on_work_order", principal=user.principal,
                            work_order_id=work_order_id, action="cancel")
    await views.changed(answer.get("customer_id"))
    return answer
