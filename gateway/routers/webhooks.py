"""Webhook subscriptions, their delivery log and replays (administrators)."""
from __future__ import annotations

import logging
from typing import Annotated, Literal

import anyio.from_thread
from fastapi import Path, Query, Request, Response

from gateway import webhooks
from gateway.deps import CurrentUser, Db, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.webhooks import DeliveryPublic, WebhookCreate, WebhookCreated, WebhookPublic

log = logging.getLogger(__name__)

router = ResourceRouter(prefix=f"{API}/webhooks", tags=["webhooks"],
                        dependencies=[requires("webhooks.manage")], responses=ERROR_RESPONSES)
WebhookId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201, response_model=WebhookCreated, summary="Subscribe a URL")
def create_webhook(body: WebhookCreate, db: Db, admin: CurrentUser, request: Request) -> dict:
    """Events whose type matches `events` (and whose `data` matches `filters`) are POSTed to
    `url`, signed with `secret` (shown only in this answer): see docs/security.md."""
    webhook = webhooks.create_webhook(
        db, name=body.name, url=webhooks.validate_url(body.url), events=body.events,
        filters=body.filters, created_by=admin.id)
    db.commit()
    _changed(request)
    return {**WebhookPublic.model_validate(webhook).model_dump(), "secret": webhook.secret}


@router.get("", response_model=Page[WebhookPublic], summary="List subscriptions")
def list_webhooks(
    db: Db,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    items, next_cursor = webhooks.list_webhooks(db, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}


@router.delete("/{webhook_id}", status_code=204, summary="Deactivate a subscription")
def deactivate_webhook(webhook_id: WebhookId, db: Db, request: Request) -> Response:
    """No new deliveries are made; pending ones are not sent; the log stays readable."""
    webhooks.get_webhook(db, webhook_id).active = False
    db.commit()
    _changed(request)
    return Response(status_code=204)


def _changed(request: Request) -> None:
    """This process's webhook consumer re-reads the subscriptions and re-binds its queue
    before the request answers (the routes run in a worker thread)."""
    service = getattr(request.app.state, "webhooks", None)
    if service is None:
        return
    service.subscriptions_changed()
    try:
        anyio.from_thread.run(service.sync_bindings)
    except Exception as exc:  # noqa: BLE001 - broker away: the consumer re-binds on reconnect
        log.warning("Webhook bindings not synchronised now: %s", exc)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryPublic],
            summary="Deliveries and their attempt log, newest first")
def list_deliveries(
    webhook_id: WebhookId,
    db: Db,
    status: Literal["pending", "succeeded", "dead"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    items, next_cursor = webhooks.list_deliveries(db, webhook_id, cursor=cursor, limit=limit,
                                                  status=status)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay", status_code=202,
             response_model=DeliveryPublic, summary="Send a delivery again")
def replay_delivery(webhook_id: WebhookId, delivery_id: Annotated[str, Path(max_length=64)],
                    db: Db, request: Request) -> dict:
    """Any status (a dead one too): a fresh round of attempts starts now."""
    answer = webhooks.replay(db, webhook_id, delivery_id)
    db.commit()
    service = getattr(request.app.state, "webhooks", None)
    if service is not None:
        service.wake()
    return answer
