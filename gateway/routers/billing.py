"""A customer's billing details (开票信息), kept by finance in the sales store."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.guards import ensure_customer_visible
from gateway.routers import API, ResourceRouter
from gateway.schemas.sales import BillingIn, BillingPublic

router = ResourceRouter(prefix=f"{API}/customers", tags=["billing"], responses=ERROR_RESPONSES)
CustomerId = Annotated[str, Path(max_length=64, description="the customer's id")]


@router.put("/{customer_id}/billing", response_model=BillingPublic,
            summary="Set a customer's billing details",
            dependencies=[requires("billing.write")])
async def put_billing(customer_id: CustomerId, body: BillingIn, user: CurrentUser,
                      rpc: Rpc) -> Any:
    """Tax id, bank, account and address for invoicing; finance and administrators."""
    await ensure_customer_visible(rpc, user.principal, customer_id)
    return await rpc.call("sales", "put_billing", principal=user.principal,
                          customer_id=customer_id, data=body.model_dump(mode="json"))


@router.get("/{customer_id}/billing", response_model=BillingPublic,
            summary="A customer's billing details", dependencies=[requires("billing.read")])
async def get_billing(customer_id: CustomerId, user: CurrentUser, rpc: Rpc) -> Any:
    await ensure_customer_visible(rpc, user.principal, customer_id)
    return await rpc.call("sales", "get_billing", principal=user.principal,
                          customer_id=customer_id)
