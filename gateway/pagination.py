"""Opaque keyset cursors for the gateway's own lists (users, teams, notifications).

A cursor wraps the id of the last row of a page; ids are time-ordered strings, so the next
page is ``WHERE id > :last`` (or ``<`` for newest-first lists) — no OFFSET, no COUNT.
"""
from __future__ import annotations

import base64
import binascii

from crmkit.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = ""
    if not value or len(value) > 64 or not value.isalnum():
        raise ValidationFailed("validation_error", "The cursor is not valid", [
            {"loc": ["query", "cursor"], "msg": "not a cursor returned by this list",
             "type": "invalid_cursor"}])
    return value


def page(rows: list, limit: int, key: str = "id") -> tuple[list, str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next cursor."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(getattr(rows[-1], key))
    return rows, None
