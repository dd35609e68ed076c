"""``Idempotency-Key`` on POST: a retry returns the first answer and changes nothing twice.

Keys live in Redis under ``crm:idem:<caller>:<sha256(key)>`` (the caller is the verified
user, the API key, or — unauthenticated — the client IP), so two users never share a key.

- first request: ``SET NX`` an *in-flight* marker (expires after ``IDEMPOTENCY_LOCK_SECONDS``
  should the gateway die), run the route, store ``{status, headers, body, fingerprint}`` for
  ``IDEMPOTENCY_TTL_SECONDS`` (24 h);
- a retry with the same key and the same request (method, path, query, body): the stored
  status, headers and body, plus ``Idempotent-Replayed: true``;
- the same key while the first is still running: 409 ``idempotency_in_progress``;
- the same key with a different request: 422 ``idempotency_key_reused``;
- answers that say nothing happened and a retry may succeed — 401, 429 and 5xx (the service
  was down or timed out) — are not kept: the marker is removed so a retry runs again.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re

from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.asgi import fingerprint, json_error, read_body, replay, send_response

log = logging.getLogger(__name__)

_SANE_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_SKIPPED_HEADERS = {b"x-request-id", b"content-length", b"date", b"server"}
NOT_KEPT = {401, 429}


class IdempotencyGuard:
    def __init__(self, redis: Redis, ttl: int, lock_seconds: int,
                 timeout: float | None = None) -> None:
        self.redis = redis
        self.ttl = ttl
        self.lock_seconds = lock_seconds
        self.timeout = timeout      # a Redis that does not answer counts as one that fails

    async def handle(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                     caller: str, key: str) -> None:
        if not _SANE_KEY.match(key):
            await send_response(send, json_error(
                422, "validation_error", "The Idempotency-Key header is not valid",
                [{"loc": ["header", "Idempotency-Key"], "type": "value_error",
                  "msg": "1 to 255 printable ASCII characters"}]))
            return
        body = await read_body(receive)
        print_ = fingerprint(scope, body)
        redis_key = f"crm:idem:{caller}:{hashlib.sha256(key.encode()).hexdigest()}"
        marker = json.dumps({"state": "in_progress", "fingerprint": print_})
        try:
            async with asyncio.timeout(self.timeout):
                first = await self.redis.set(redis_key, marker, nx=True, ex=self.lock_seconds)
                stored = None if first else await self.redis.get(redis_key)
        except Exception:  # noqa: BLE001 - no guarantee without Redis: refuse
            log.warning("Idempotency store unavailable (Redis)")
            await send_response(send, json_error(
                503, "idempotency_unavailable",
                "Idempotent requests cannot be handled right now; retry later"))
            return
        if not first:
            if stored is None:  # expired between SET and GET: treat as in flight
                stored = marker
            record = json.loads(stored)
            if record.get("fingerprint") != print_:
                await send_response(send, json_error(
                    422, "idempotency_key_reused",
                    "This Idempotency-Key was used for a different request"))
            elif record.get("state") == "in_progress":
                await send_response(send, json_error(
                    409, "idempotency_in_progress",
                    "A request with this Idempotency-Key is still being processed",
                    headers={"Retry-After": "1"}))
            else:
                headers = [(k.encode("latin-1"), v.encode("latin-1"))
                           for k, v in record["headers"]]
                content = base64.b64decode(record["body"])
                headers.append((b"content-length", str(len(content)).encode()))
                headers.append((b"idempotent-replayed", b"true"))
                await send_response(send, (record["status"], headers, content))
            return

        status = 500
        kept_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept_headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", ()) if k.lower() not in _SKIPPED_HEADERS)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, replay(body, receive), capture)
        finally:
            await self._finish(redis_key, print_, status, kept_headers, b"".join(chunks))

    async def _finish(self, redis_key: str, print_: str, status: int,
                      headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                if status >= 500 or status in NOT_KEPT:
                    await self.redis.delete(redis_key)
                    return
                await self.redis.set(redis_key, json.dumps({
                    "state": "done", "fingerprint": print_, "status": status,
                    "headers": headers, "body": base64.b64encode(body).decode()}), ex=self.ttl)
        except Exception:  # noqa: BLE001 - the marker expires by itself
            log.warning("Could not store the idempotent answer (Redis)")
