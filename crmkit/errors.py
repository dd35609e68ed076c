"""Typed domain errors shared by the services and the gateway.

A service raises one of these; Nameko serialises it into the RPC reply as
``{"exc_type", "exc_path", "exc_args", "value"}`` and the gateway turns it
back into the same class (``from_remote``) and then into the HTTP error body
``{"error": {"code", "message", "details"}}`` with the class's ``status``.

Every error is built as ``SomeError(code, message, details)``; its ``args`` carry exactly
what the client must see, with ``details`` as a JSON string because Nameko stringifies every
non-string value inside exception args (``{"limit": 50}`` would arrive as ``{"limit": "50"}``).
"""
from __future__ import annotations

import json
from typing import Any


class DomainError(Exception):
    status = 400
    default_code = "bad_request"

    def __init__(self, code: str | None = None, message: str = "", details: Any = None):
        code = code or self.default_code
        super().__init__(code, message, json.dumps(details, ensure_ascii=False, default=str))
        self.code = code
        self.message = message or code
        self.details = details

    def to_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(DomainError):
    status = 400
    default_code = "bad_request"


class Unauthorized(DomainError):
    status = 401
    default_code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"


class Conflict(DomainError):
    status = 409
    default_code = "conflict"


class ValidationFailed(DomainError):
    status = 422
    default_code = "validation_error"


class RateLimited(DomainError):
    status = 429
    default_code = "rate_limited"


class ServiceUnavailable(DomainError):
    status = 503
    default_code = "service_unavailable"


class ServiceTimeout(DomainError):
    status = 504
    default_code = "service_timeout"


ERRORS: dict[str, type[DomainError]] = {
    f"{cls.__module__}.{cls.__name__}": cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, ValidationFailed,
                RateLimited, ServiceUnavailable, ServiceTimeout)
}


def from_remote(error: dict) -> DomainError:
    """Rebuild a domain error from a Nameko RPC reply's ``error`` member.

    Unknown exception types (a bug in a service) become a 500-like
    ``DomainError`` with code ``internal_error`` and no internals leaked.
    """
    cls = ERRORS.get(error.get("exc_path", ""))
    if cls is None:
        exc = DomainError("internal_error", "The service failed to process the request")
        exc.status = 500
        return exc
    args = list(error.get("exc_args") or [])
    while len(args) < 3:
        args.append(None)
    details = args[2]
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            pass
    return cls(args[0], args[1] or "", details)
