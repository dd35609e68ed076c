"""Returns (退货流程) against a signed contract's lines."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from gateway.deps import CurrentUser, Rpc, Views, requires
from gateway.errors import ERROR_RESPONSES
from gateway.guards import ensure_customer_visible
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.service_desk import RefundIn, ReturnCreate, ReturnPublic, ReturnStatus

router = ResourceRouter(prefix=f"{API}/returns", tags=["returns"], responses=ERROR_RESPONSES)
ReturnId = Annotated[str, Path(max_length=64, description="the return's id")]


@router.post("", status_code=201, response_model=ReturnPublic, summary="Request a return",
             dependencies=[requires("returns.write")])
async def create_return(body: ReturnCreate, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """The customer must be one you can see (404); the contract a signed one of that
    customer (422 `unknown_contract`, `contract_customer_mismatch`); each line's quantity at
    most what was sold minus what was already returned (422
    `quantity_exceeds_remaining`)."""
    await ensure_customer_visible(rpc, user.principal, body.customer_id)
    answer = await rpc.call("service_desk", "create_return", principal=user.principal,
                            data=body.model_dump(mode="json"))
    await views.changed(body.customer_id)
    return answer


@router.get("", response_model=Page[ReturnPublic], summary="List returns",
            dependencies=[requires("returns.read")])
async def list_returns(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = None,
    contract_id: str | None = None,
    status: ReturnStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("service_desk", "list_returns", principal=user.principal,
                          customer_id=customer_id, contract_id=contract_id,
                          status=status.value if status else None, cursor=cursor, limit=limit)


@router.get("/{return_id}", response_model=ReturnPublic, summary="Get a return",
            dependencies=[requires("returns.read")])
async def get_return(return_id: ReturnId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("service_desk", "get_return", principal=user.principal,
                          return_id=return_id)


def _action_route(action: str, summary: str, doc: str) -> None:
    async def route(return_id: ReturnId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
        answer = await rpc.call("service_desk", "act_on_return", principal=user.principal,
                                return_id=return_id, action=action)
        await views.changed(answer.get("customer_id"))
        return answer

    route.__doc__ = doc
    route.__name__ = f"{action}_return"
    router.post(f"/{{return_id}}/{action}", response_model=ReturnPublic, summary=summary,
                dependencies=[requires("returns.process")])(route)


_action_route("approve", "Approve a return",
              "requested → approved; the quantities are checked again (422).")
_action_route("reject", "Reject a return", "requested → rejected.")
_action_route("receive", "Receive the returned goods", "approved → received.")
_action_route("replace", "Replace the returned goods", "received → replaced.")
_action_route("close", "Close a return", "rejected | refunded | replaced → closed.")


@router.post("/{return_id}/refund", response_model=ReturnPublic, summary="Refund a return",
             dependencies=[requires("returns.process")])
async def refund_return(return_id: ReturnId, body: RefundIn, user: CurrentUser,
                        rpc: Rpc, views: Views) -> Any:
    """received → refunded; `amount` at most the returned lines' value (422
    `refund_exceeds_value`)."""
    answer = await rpc.call("service_desk", "act_on_return", principal=user.principal,
                            return_id=return_id, action="refund",
                            data=body.model_dump(mode="json"))
    await views.changed(answer.get("customer_id"))
    return answer
