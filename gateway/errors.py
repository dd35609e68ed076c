"""Every error leaves the gateway as ``{"error": {"code", "message", "details"}}``.

- ``crmkit.errors.DomainError`` (raised here or rebuilt from a service's RPC reply): its
  ``status``; 401 adds ``WWW-Authenticate: Bearer``.
- request validation (pydantic): 422 ``validation_error``, details ``[{loc, msg, type}]``.
- Starlette HTTP errors (unknown route 404, 405, ...): their status, a code from the status.
- anything else: 500 ``internal_error`` without internals (see ``gateway.middleware``).
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmkit.errors import DomainError
from gateway.schemas.common import ErrorResponse

log = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 503: "service_unavailable", 504: "service_timeout",
}

#: documented error answers, for ``responses=`` of routers
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, invalid or expired bearer token"},
    403: {"model": ErrorResponse, "description": "Your role may not do this"},
    404: {"model": ErrorResponse, "description": "Not found, or outside your data scope"},
    422: {"model": ErrorResponse, "description": "The request is not valid"},
    503: {"model": ErrorResponse, "description": "A service or the broker is unavailable"},
    504: {"model": ErrorResponse, "description": "A service did not answer in time"},
}
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "The state of the record forbids this"},
}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse({"error": {"code": code, "message": message, "details": details}},
                        status_code=status, headers=headers)


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """pydantic errors without the submitted values (they may hold passwords)."""
    return [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""),
             "type": err.get("type", "value_error")} for err in errors]


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if exc.status >= 500:
        log.warning("%s: %s (%s)", exc.code, exc.message, exc.details)
    headers = {}
    if exc.status == 429 and isinstance(exc.details, dict) and "retry_after" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after"])
    details = None if exc.status == 500 and exc.code == "internal_error" else exc.details
    return error_response(exc.status, exc.code, exc.message, details, headers)


async def _request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "validation_error", "The request is not valid",
                          validation_details(exc.errors()))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODES_BY_STATUS.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, None, dict(exc.headers or {}))


async def _response_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ResponseValidationError)
    log.error("A service answer did not match the response model of %s %s: %s",
              request.method, request.url.path, validation_details(exc.errors()))
    return error_response(500, "internal_error", "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ResponseValidationError, _response_validation_error)
