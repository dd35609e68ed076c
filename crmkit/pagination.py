"""Keyset (cursor) pagination on time-ordered string ids: newest first, no COUNT(*)."""
from __future__ import annotations

import base64

import sqlalchemy as sa

from crmkit.errors import ValidationFailed


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except Exception:  # noqa: BLE001 - any garbage is a client error
        value = ""
    if not value or not value.isalnum():
        raise ValidationFailed("invalid_cursor", "the cursor is not valid",
                               [{"field": "cursor", "message": "malformed"}])
    return value


def paginate(session, query: sa.Select, id_column, cursor: str | None, limit: int, dump):
    """Run ``query`` newest-first from ``cursor``; returns ``{items, next_cursor}``."""
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(id_column < after)
    rows = session.execute(query.order_by(id_column.desc()).limit(limit + 1)).scalars().all()
    items = [dump(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}
