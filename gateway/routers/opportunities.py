"""Opportunities (商机) and their stage changes."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from gateway.deps import CurrentUser, Rpc, Views, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.guards import ensure_customer_visible
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import OpportunityStatus, Page
from gateway.schemas.sales import OpportunityCreate, OpportunityPublic, StageChange

router = ResourceRouter(prefix=f"{API}/opportunities",
                        tags=["opportunities"], responses=ERROR_RESPONSES)
OpportunityId = Annotated[str, Path(max_length=64, description="the opportunity's id")]


@router.post("", status_code=201, response_model=OpportunityPublic,
             summary="Create an opportunity", dependencies=[requires("opportunities.write")])
async def create_opportunity(body: OpportunityCreate, user: CurrentUser, rpc: Rpc,
                             views: Views) -> Any:
    """The customer must be one you can see (404 otherwise). The opportunity starts open, in
    the pipeline's first stage, owned by you."""
    await ensure_customer_visible(rpc, user.principal, body.customer_id)
    answer = await rpc.call("sales", "create_opportunity", principal=user.principal,
                            data=body.model_dump(mode="json"))
    await views.changed(body.customer_id)
    return answer


@router.get("", response_model=Page[OpportunityPublic], summary="List opportunities",
            dependencies=[requires("opportunities.read")])
async def list_opportunities(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = None,
    status: OpportunityStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_opportunities", principal=user.principal,
                          customer_id=customer_id, status=status.value if status else None,
                          cursor=cursor, limit=limit)


@router.get("/{opportunity_id}", response_model=OpportunityPublic,
            summary="Get an opportunity", dependencies=[requires("opportunities.read")])
async def get_opportunity(opportunity_id: OpportunityId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("sales", "get_opportunity", principal=user.principal,
                          opportunity_id=opportunity_id)


@router.post("/{opportunity_id}/stage", response_model=OpportunityPublic,
             summary="Move an opportunity to a stage", responses=CONFLICT_RESPONSE,
             dependencies=[requires("opportunities.write")])
async def change_stage(opportunity_id: OpportunityId, body: StageChange, user: CurrentUser,
                       rpc: Rpc, views: Views) -> Any:
    """A stage of the opportunity's pipeline; the won stage makes it `won`, the lost stage
    `lost` (give `lost_reason`). Every change is kept with its time."""
    answer = await rpc.call("sales", "change_stage", principal=user.principal,
                            opportunity_id=opportunity_id, stage=body.stage,
                            lost_reason=body.lost_reason)
    await views.changed(answer.get("customer_id"))
    return answer
