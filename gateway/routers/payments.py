"""Payments (回款记录) against receivable instalments."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from gateway.deps import CurrentUser, Rpc, Views, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.sales import PaymentCreate, PaymentPublic

router = ResourceRouter(prefix=f"{API}/payments", tags=["payments"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=PaymentPublic, summary="Record a payment",
             responses=CONFLICT_RESPONSE, dependencies=[requires("payments.write")])
async def record_payment(body: PaymentCreate, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Partial payments are fine; more than the instalment's outstanding amount is 409
    `overpayment`."""
    answer = await rpc.call("sales", "record_payment", principal=user.principal,
                            data=body.model_dump(mode="json"))
    await views.changed(answer.get("customer_id"))
    return answer


@router.get("", response_model=Page[PaymentPublic], summary="List payments",
            dependencies=[requires("receivables.read")])
async def list_payments(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = Query(None, max_length=64),
    contract_id: str | None = Query(None, max_length=64),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_payments", principal=user.principal,
                          customer_id=customer_id, contract_id=contract_id, cursor=cursor,
                          limit=limit)
