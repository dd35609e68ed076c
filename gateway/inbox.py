"""The per-user notification inbox in the gateway's store (sync; run on a worker thread)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmkit.errors import NotFound
from gateway.models import Notification
from gateway.pagination import decode_cursor, page


def to_public(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id, "type": n.type, "title": n.title, "body": n.body, "data": n.data or {},
        "event_id": n.event_id, "created_at": n.created_at, "read_at": n.read_at,
    }


def to_json_ready(item: dict[str, Any]) -> dict[str, Any]:
    """The public dict with ISO 8601 times, ready for ``json.dumps``."""
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in item.items()}


def store_notification(session: Session, *, user_id: str, type_: str, title: str, body: str,
                       data: dict[str, Any], event_id: str) -> dict[str, Any] | None:
    """Insert one notification; None when (event_id, user_id) is already stored."""
    exists = session.scalar(select(Notification.id).where(
        Notification.event_id == event_id, Notification.user_id == user_id))
    if exists is not None:
        return None
    notification = Notification(user_id=user_id, type=type_, title=title, body=body, data=data,
                                event_id=event_id)
    session.add(notification)
    try:
        session.commit()
    except IntegrityError:  # a concurrent redelivery won the race
        session.rollback()
        return None
    return to_public(notification)


def list_notifications(session: Session, user_id: str, *, unread: bool | None,
                       cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """Newest first."""
    stmt = (select(Notification).where(Notification.user_id == user_id)
            .order_by(Notification.id.desc()).limit(limit + 1))
    before = decode_cursor(cursor)
    if before:
        stmt = stmt.where(Notification.id < before)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    rows, next_cursor = page(list(session.scalars(stmt)), limit)
    return [to_public(n) for n in rows], next_cursor


def notifications_after(session: Session, user_id: str, last_id: str,
                        limit: int = 100) -> list[dict]:
    """Oldest first: what a reconnecting stream missed after ``Last-Event-ID``."""
    stmt = (select(Notification)
            .where(Notification.user_id == user_id, Notification.id > last_id)
            .order_by(Notification.id).limit(limit))
    return [to_public(n) for n in session.scalars(stmt)]


def mark_read(session: Session, user_id: str, notification_id: str) -> dict[str, Any]:
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound("notification_not_found", "Notification not found")
    if notification.read_at is None:
        notification.read_at = dt.datetime.now(dt.UTC)
        session.flush()
    return to_public(notification)


def mark_all_read(session: Session, user_id: str) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=dt.datetime.now(dt.UTC)))
    return result.rowcount or 0
