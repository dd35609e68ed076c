"""Validate RPC input with pydantic and report errors as ``ValidationFailed`` (422)."""
from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from crmkit.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict | None, *, partial: bool = False) -> M:
    if data is not None and not isinstance(data, dict):
        raise ValidationFailed("validation_error", "request body must be an object")
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"],
                    "type": err["type"]} for err in exc.errors(include_url=False)]
        raise ValidationFailed("validation_error", "invalid input", details) from None


def page_limit(limit: int | str | None, default: int = 50, maximum: int = 200) -> int:
    try:
        value = default if limit in (None, "") else int(limit)
    except (TypeError, ValueError):
        raise ValidationFailed("validation_error", "limit must be an integer",
                               [{"field": "limit", "message": "not an integer"}]) from None
    if not 1 <= value <= maximum:
        raise ValidationFailed("validation_error", f"limit must be between 1 and {maximum}",
                               [{"field": "limit", "message": "out of range"}])
    return value


def choice(value: str, allowed, field: str) -> str:
    """A filter value that must be one of ``allowed`` (422 naming the field otherwise)."""
    if value not in allowed:
        raise ValidationFailed("validation_error",
                               f"{field} must be one of {', '.join(allowed)}",
                               [{"field": field, "message": f"unknown {field}"}])
    return value
