"""Per-request context as plain ASGI middleware (streaming responses pass through untouched).

- correlation id: ``X-Request-ID`` from the client (if sane) or a new one; set in
  ``crmkit.logging.correlation_id`` for logs and RPC headers; returned in the response.
- metrics: count, latency and errors by method and route *template*.
- access log: one JSON line per request (method, route, path without the query string —
  it may hold an ``access_token`` — status, duration), carrying the correlation id.
- last resort: an unhandled exception becomes a logged 500 ``internal_error``.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from time import perf_counter

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmkit.logging import correlation_id
from gateway.metrics import HTTP_ERRORS, HTTP_IN_PROGRESS, HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger(__name__)
access_log = logging.getLogger("gateway.access")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_INTERNAL_ERROR = json.dumps({"error": {"code": "internal_error",
                                        "message": "Internal server error",
                                        "details": None}}).encode()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = correlation_id.set(request_id)
        started = perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            log.exception("Unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise
            status = 500
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                (b"x-request-id", request_id.encode()),
            ]})
            await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            HTTP_IN_PROGRESS.dec()
            elapsed = perf_counter() - started
            method, route = scope.get("method", ""), _route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            if status >= 400:
                HTTP_ERRORS.labels(method, route, str(status)).inc()
            if self.access_log:
                access_log.info("%s %s %d", method, scope.get("path", ""), status, extra={
                    "method": method, "route": route, "path": scope.get("path", ""),
                    "status": status, "duration_ms": round(elapsed * 1000, 2)})
            correlation_id.reset(token)
