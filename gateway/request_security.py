"""Request-level protections for every route, as one plain ASGI middleware (no router edits).

In this order, before the route runs:

1. **Body size** — ``Content-Length`` (or the bytes actually streamed) above
   ``MAX_BODY_BYTES`` (1 MiB; ``MAX_UPLOAD_BYTES`` = 50 MiB for ``.../import`` uploads) →
   413 ``payload_too_large``.
2. **Login throttle** — ``POST /api/v1/auth/token`` after too many failures for the username
   or the client IP → 429 ``rate_limited`` with ``Retry-After``; failures and successes are
   counted and audited after the route answers.
3. **Rate limit** — one token bucket per caller (user id of a *verified* JWT, hash of an API
   key, else the client IP) → 429 ``rate_limited`` with ``Retry-After``.
4. **Idempotency** — a POST with ``Idempotency-Key`` (gateway.idempotency).

Redis unavailable: rate limits fail open (logged); idempotent POSTs answer 503, because
running them without the guarantee could apply them twice.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmkit.errors import Unauthorized
from gateway import apikeys, audit
from gateway.asgi import header, json_error, read_body, replay, send_response
from gateway.idempotency import IdempotencyGuard
from gateway.ratelimit import LoginThrottle, RateLimiter
from gateway.security import decode_access_token

log = logging.getLogger(__name__)

LOGIN_PATH = "/api/v1/auth/token"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit: an HTTP error, so the
    route's body parsing turns it into the 413 answer instead of a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes")





def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def caller_of(scope: Scope, jwt_secret: str) -> tuple[str, bool]:
    """``(caller key, authenticated)``: whom a rate limit or an Idempotency-Key belongs to.

    A JWT counts only when its signature verifies (a forged ``sub`` must not reach another
    user's stored responses); an API key is identified by its hash (unguessable)."""
    api_key = header(scope, b"x-api-key")
    authorization = header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if api_key or apikeys.looks_like_key(token):
        return "key:" + apikeys.hash_secret(api_key or token)[:40], True
    if token:
        try:
            return "user:" + decode_access_token(token, jwt_secret), True
        except Unauthorized:
            pass
    return "ip:" + client_ip(scope), False


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings = state.settings
        method, path = scope["method"], scope.get("path", "")

        limit = settings.max_upload_bytes if path.endswith("/import") else settings.max_body_bytes
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await send_response(send, _too_large(limit))
            return
        receive = _limited(receive, limit)
        if b"%00" in scope.get("query_string", b""):
            await send_response(send, json_error(
                422, "validation_error", "The query must not contain the NUL character",
                [{"field": "query", "message": "NUL (%00) is not allowed"}]))
            return

        try:
            if method == "POST" and path == LOGIN_PATH:
                await self._login(scope, receive, send, state)
                return
            caller, _authenticated = caller_of(scope, settings.jwt_secret.get_secret_value())
            if settings.rate_limit_enabled and path.startswith("/api/"):
                refused = await self._rate_limited(state, caller)
                if refused is not None:
                    await send_response(send, refused)
                    return
            idem_key = header(scope, b"idempotency-key")
            if method == "POST" and idem_key is not None:
                guard = IdempotencyGuard(state.redis, settings.idempotency_ttl_seconds,
                                         settings.idempotency_lock_seconds,
                                         settings.redis_request_timeout)
                await guard.handle(self.app, scope, receive, send, caller, idem_key)
                return
            await self.app(scope, receive, send)
        except BodyTooLarge:
            await send_response(send, _too_large(limit))

    async def _rate_limited(self, state: Any, caller: str) -> tuple[int, list, bytes] | None:
        limiter = getattr(state, "rate_limiter", None)
        if limiter is None:
            limiter = state.rate_limiter = RateLimiter(state.redis,
                                                       state.settings.rate_limit_per_minute)
        try:
            async with asyncio.timeout(state.settings.redis_request_timeout):
                allowed, retry_after = await limiter.hit(caller)
        except Exception:  # noqa: BLE001 - fail open: Redis down must not stop the API
            log.warning("Rate limiter unavailable (Redis); request let through")
            return None
        if allowed:
            return None
        return json_error(429, "rate_limited", "Too many requests; slow down",
                          {"retry_after": retry_after}, {"Retry-After": str(retry_after)})

    async def _login(self, scope: Scope, receive: Receive, send: Send, state: Any) -> None:
        settings = state.settings
        body = await read_body(receive)
        form = parse_qs(body.decode("utf-8", "replace"))
        username = (form.get("username") or [""])[0][:100]
        ip = client_ip(scope)
        throttle = LoginThrottle(state.redis, settings.login_max_failures,
                                 settings.login_max_failures_per_ip,
                                 settings.login_failure_window_seconds)
        try:
            async with asyncio.timeout(settings.redis_request_timeout):
                wait = await throttle.blocked(username, ip) if username else 0
        except Exception:  # noqa: BLE001 - fail open, like the rate limit
            log.warning("Login throttle unavailable (Redis); attempt let through")
            throttle, wait = None, 0
        if wait:
            await run_in_threadpool(state.database.run, audit.record, "login_throttled",
                                    actor_name=username, ip=ip, data={"retry_after": wait})
            await send_response(send, json_error(
                429, "rate_limited", "Too many failed logins; try again later",
                {"retry_after": wait}, {"Retry-After": str(wait)}))
            return
        status = 0
        answer = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 401:  # counted before the client hears back: no racing past it
                    await run_in_threadpool(state.database.run, audit.record, "login_failed",
                                            actor_name=username, ip=ip)
                    if throttle is not None and username:
                        await _quietly(throttle.failed(username, ip),
                                       settings.redis_request_timeout)
            elif message["type"] == "http.response.body" and status == 200:
                answer.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    user_id = _token_subject(bytes(answer),
                                             settings.jwt_secret.get_secret_value())
                    await run_in_threadpool(state.database.run, audit.record, "login",
                                            actor_id=user_id, actor_name=username, ip=ip)
                    if throttle is not None:
                        await _quietly(throttle.succeeded(username),
                                       settings.redis_request_timeout)
            await send(message)

        await self.app(scope, replay(body, receive), capture)


def _token_subject(body: bytes, secret: str) -> str | None:
    try:
        return decode_access_token(json.loads(body)["access_token"], secret)
    except (ValueError, KeyError, TypeError, Unauthorized):
        return None


async def _quietly(awaitable: Any, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await awaitable
    except Exception:  # noqa: BLE001
        log.warning("Login throttle update failed (Redis)")


def _too_large(limit: int) -> tuple[int, list, bytes]:
    return json_error(413, "payload_too_large", f"The request body exceeds {limit} bytes",
                      {"max_bytes": limit})


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


