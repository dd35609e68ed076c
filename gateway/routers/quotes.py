"""Quotes (方案报价): priced lines, server-computed totals, draft → sent → accepted | rejected."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from gateway.deps import CurrentUser, Rpc, Views, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.guards import ensure_customer_visible
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.sales import QuoteCreate, QuotePublic, Reason

router = ResourceRouter(prefix=f"{API}/quotes", tags=["quotes"], responses=ERROR_RESPONSES)
QuoteId = Annotated[str, Path(max_length=64, description="the quote's id")]


@router.post("", status_code=201, response_model=QuotePublic, summary="Create a quote",
             dependencies=[requires("quotes.write")])
async def create_quote(body: QuoteCreate, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Lines of products (unit price defaults to the list price; `discount` is a rate 0–1),
    a tax rate (0–1) and the last valid day. The server computes subtotal, discount, tax and
    total in Decimal, rounding half up to cents; totals sent by a client are rejected."""
    await ensure_customer_visible(rpc, user.principal, body.customer_id)
    answer = await rpc.call("sales", "create_quote", principal=user.principal,
                            data=body.model_dump(mode="json"))
    await views.changed(body.customer_id)
    return answer


@router.get("", response_model=Page[QuotePublic], summary="List quotes",
            dependencies=[requires("quotes.read")])
async def list_quotes(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = Query(None, max_length=64),
    opportunity_id: str | None = Query(None, max_length=64),
    status: str | None = Query(None, pattern="^(draft|sent|accepted|rejected|expired)$"),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_quotes", principal=user.principal,
                          customer_id=customer_id, status=status,
                          opportunity_id=opportunity_id, cursor=cursor, limit=limit)


@router.get("/{quote_id}", response_model=QuotePublic, summary="Get a quote",
            dependencies=[requires("quotes.read")])
async def get_quote(quote_id: QuoteId, user: CurrentUser, rpc: Rpc) -> Any:
    """A draft or sent quote past its `valid_until` day reads as `expired`."""
    return await rpc.call("sales", "get_quote", principal=user.principal, quote_id=quote_id)


@router.post("/{quote_id}/send", response_model=QuotePublic, summary="Send a quote",
             responses=CONFLICT_RESPONSE, dependencies=[requires("quotes.write")])
async def send_quote(quote_id: QuoteId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    answer = await rpc.call("sales", "send_quote", principal=user.principal, quote_id=quote_id)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{quote_id}/accept", response_model=QuotePublic, summary="Accept a quote",
             responses=CONFLICT_RESPONSE, dependencies=[requires("quotes.write")])
async def accept_quote(quote_id: QuoteId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Only a sent quote; an expired one is 409 `quote_expired`."""
    answer = await rpc.call("sales", "accept_quote", principal=user.principal,
                            quote_id=quote_id)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{quote_id}/reject", response_model=QuotePublic, summary="Reject a quote",
             responses=CONFLICT_RESPONSE, dependencies=[requires("quotes.write")])
async def reject_quote(quote_id: QuoteId, user: CurrentUser, rpc: Rpc, views: Views,
                       body: Reason | None = None) -> Any:
    answer = await rpc.call("sales", "reject_quote", principal=user.principal,
                            quote_id=quote_id, reason=body.reason if body else None)
    await views.changed(answer.get("customer_id"))
    return answer
