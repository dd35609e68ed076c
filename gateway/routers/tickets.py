"""Service tickets (客户反馈)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gateway.deps import CurrentUser, DatabaseDep, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.guards import ensure_active_user, ensure_customer_visible
from gateway.routers import API
from gateway.schemas.common import Page, TicketStatus
from gateway.schemas.service_desk import TicketCreate, TicketPublic

router = APIRouter(prefix=f"{API}/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
TicketId = Annotated[str, Path(max_length=64, description="the ticket's id")]


@router.post("", status_code=201, response_model=TicketPublic, summary="Open a ticket",
             dependencies=[requires("tickets.write")])
async def create_ticket(body: TicketCreate, user: CurrentUser, rpc: Rpc,
                        database: DatabaseDep) -> Any:
    """The customer must be one you can see (404 otherwise); `assignee_id`, if given, an
    active user (422 otherwise). SLA deadlines follow the priority."""
    if body.assignee_id is not None:
        await ensure_active_user(database, body.assignee_id, "assignee_id")
    await ensure_customer_visible(rpc, user.principal, body.customer_id)
    return await rpc.call("service_desk", "create_ticket", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("", response_model=Page[TicketPublic], summary="List tickets",
            dependencies=[requires("tickets.read")])
async def list_tickets(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = None,
    status: TicketStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("service_desk", "list_tickets", principal=user.principal,
                          customer_id=customer_id, status=status.value if status else None,
                          cursor=cursor, limit=limit)


@router.get("/{ticket_id}", response_model=TicketPublic, summary="Get a ticket",
            dependencies=[requires("tickets.read")])
async def get_ticket(ticket_id: TicketId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("service_desk", "get_ticket", principal=user.principal,
                          ticket_id=ticket_id)
