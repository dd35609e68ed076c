"""Receivables (回款): instalments across contracts and the ageing report."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.sales import AgeingReport, InstalmentPublic

router = ResourceRouter(prefix=f"{API}/receivables",
                        tags=["receivables"], responses=ERROR_RESPONSES)


@router.get("", response_model=Page[InstalmentPublic], summary="List instalments",
            dependencies=[requires("receivables.read")])
async def list_receivables(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = Query(None, max_length=64),
    contract_id: str | None = Query(None, max_length=64),
    status: str | None = Query(None, pattern="^(pending|partial|paid|overdue)$"),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_receivable_plans", principal=user.principal,
                          customer_id=customer_id, contract_id=contract_id, status=status,
                          cursor=cursor, limit=limit)


@router.get("/ageing", response_model=AgeingReport, summary="Receivables ageing",
            dependencies=[requires("receivables.read")])
async def ageing(user: CurrentUser, rpc: Rpc,
                 owner_id: str | None = Query(None, max_length=64),
                 team_id: str | None = Query(None, max_length=64)) -> Any:
    """Outstanding amounts of overdue instalments per owner and team, in buckets of days
    overdue (0–30, 31–60, 61–90, >90), as of today in business time; within your scope."""
    return await rpc.call("sales", "receivables_ageing", principal=user.principal,
                          owner_id=owner_id, team_id=team_id)
