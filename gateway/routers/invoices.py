"""Invoices (发票) issued against contracts."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from gateway.deps import CurrentUser, Rpc, Views, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.sales import InvoiceCreate, InvoicePublic

router = ResourceRouter(prefix=f"{API}/invoices", tags=["invoices"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=InvoicePublic, summary="Issue an invoice",
             responses=CONFLICT_RESPONSE, dependencies=[requires("invoices.write")])
async def issue_invoice(body: InvoiceCreate, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """For a signed or completed contract; the invoices of a contract never sum to more than
    its total (409 `invoice_exceeds_contract`); numbers are unique."""
    answer = await rpc.call("sales", "issue_invoice", principal=user.principal,
                            data=body.model_dump(mode="json"))
    await views.changed(answer.get("customer_id"))
    return answer


@router.get("", response_model=Page[InvoicePublic], summary="List invoices",
            dependencies=[requires("invoices.read")])
async def list_invoices(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = Query(None, max_length=64),
    contract_id: str | None = Query(None, max_length=64),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_invoices", principal=user.principal,
                          customer_id=customer_id, contract_id=contract_id, cursor=cursor,
                          limit=limit)
