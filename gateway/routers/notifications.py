"""The notification inbox: poll it, mark it read, or stream it (server-sent events)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import Depends, Header, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from redis.asyncio import Redis
from redis.exceptions import RedisError

from crmkit.errors import ServiceUnavailable
from gateway import inbox
from gateway.deps import CurrentUser, DatabaseDep, Db, RedisDep, StreamUser
from gateway.errors import ERROR_RESPONSES
from gateway.metrics import SSE_CONNECTIONS
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.notifications import NotificationPublic, ReadAll

router = ResourceRouter(prefix=f"{API}/notifications",
                        tags=["notifications"], responses=ERROR_RESPONSES)
RECONNECT_MS = 3000


@router.get("", response_model=Page[NotificationPublic], summary="Your notifications")
def list_notifications(
    user: CurrentUser,
    db: Db,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only")]
    = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    """Your own inbox, newest first."""
    items, next_cursor = inbox.list_notifications(db, user.id, unread=unread, cursor=cursor,
                                                  limit=limit)
    return {"items": items, "next_cursor": next_cursor}


async def available_redis(redis: RedisDep) -> Redis:
    """Redis, checked before the stream starts: once it has, no error status can be sent."""
    try:
        with anyio.fail_after(2):
            await redis.ping()
    except (TimeoutError, RedisError) as exc:
        raise ServiceUnavailable("service_unavailable", "Notification streaming is unavailable",
                                 {"dependency": "redis"}) from exc
    return redis


@router.get("/stream", response_class=EventSourceResponse,
            summary="Stream your notifications (text/event-stream)",
            responses={200: {"content": {"text/event-stream": {"example": (
                'id: 0190b3c2a1f47c3e9d2b6a8f1e0c4d10\n'
                'data: {"id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d10", "type": "lead.assigned", '
                '"title": "线索已分配给你", ...}\n\n')}}}})
async def stream_notifications(
    user: StreamUser,
    redis: Annotated[Redis, Depends(available_redis)],
    database: DatabaseDep,
    last_event_id: Annotated[str | None, Header(
        alias="Last-Event-ID", max_length=64,
        description="sent by EventSource on reconnect: missed notifications come first")]
    = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: one `data:` line of JSON per new notification (the same object as
    in the list), with its id as the event id; a keep-alive comment every 15 s. EventSource
    cannot send headers, so the token may also be given as `?access_token=`."""
    pubsub = redis.pubsub()
    SSE_CONNECTIONS.inc()
    try:
        await pubsub.subscribe(f"notifications:{user.id}")
        # Wait for Redis to confirm the subscription: from here on nothing published is missed.
        await pubsub.get_message(timeout=5)
        yield ServerSentEvent(comment="connected", retry=RECONNECT_MS)
        if last_event_id and last_event_id.isalnum():
            missed = await run_in_threadpool(database.run, inbox.notifications_after, user.id,
                                             last_event_id)
            for item in missed:
                payload = inbox.to_json_ready(item)
                yield ServerSentEvent(raw_data=json.dumps(payload, ensure_ascii=False),
                                      id=item["id"])
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            raw = message["data"]
            try:
                event_id = str(json.loads(raw)["id"])
            except (ValueError, KeyError, TypeError):
                continue
            yield ServerSentEvent(raw_data=raw, id=event_id)
    finally:
        SSE_CONNECTIONS.dec()
        with anyio.CancelScope(shield=True):
            try:
                await pubsub.unsubscribe()
            finally:
                await pubsub.aclose()


@router.post("/{notification_id}/read", response_model=NotificationPublic,
             summary="Mark a notification read")
def mark_read(notification_id: Annotated[str, Path(max_length=64)], user: CurrentUser,
              db: Db) -> Any:
    """Another user's notification is 404."""
    return inbox.mark_read(db, user.id, notification_id)


@router.post("/read-all", response_model=ReadAll, summary="Mark all your notifications read")
def mark_all_read(user: CurrentUser, db: Db) -> Any:
    return {"marked": inbox.mark_all_read(db, user.id)}


