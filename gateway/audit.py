"""The audit log: logins, failed logins, scope grants and API keys, in a table and in the logs.

``record(session, action, ...)`` adds a row to ``audit_log`` in the caller's transaction and
writes one JSON log line (logger ``gateway.audit``) with the same fields, so the trail is
searchable both through ``GET /api/v1/audit`` and in the log pipeline.

=======================  ===================================================================
action                   when
=======================  ===================================================================
``login``                a successful password login (actor = the user)
``login_failed``         a rejected login (actor_name = the username tried, no actor id)
``login_throttled``      a login refused with 429 by the brute-force throttle
``grant.created``        an administrator granted extra data scope (target = grant id)
``grant.revoked``        a grant was deleted
``api_key.created``      an API key was issued (target = key id)
``api_key.revoked``      an API key was revoked
``api_key.used``         a key authenticated a request (at most once per key per
                         ``API_KEY_TOUCH_SECONDS``, default 60 s)
=======================  ===================================================================
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmkit.logging import correlation_id
from gateway.models import AuditEntry
from gateway.pagination import decode_cursor, page

log = logging.getLogger("gateway.audit")

ACTIONS = ("login", "login_failed", "login_throttled", "grant.created", "grant.revoked",
           "api_key.created", "api_key.revoked", "api_key.used")


def record(session: Session, action: str, *, actor_id: str | None = None,
           actor_name: str | None = None, target: str | None = None, ip: str | None = None,
           data: dict[str, Any] | None = None) -> AuditEntry:
    request_id = correlation_id.get(None)
    entry = AuditEntry(action=action, actor_id=actor_id, actor_name=(actor_name or "")[:100],
                       target=target, ip=ip, request_id=request_id, data=data or {})
    session.add(entry)
    log.info("audit %s", action, extra={"audit_action": action, "actor_id": actor_id,
                                        "actor_name": actor_name, "target": target, "ip": ip,
                                        "audit_data": data or {}})
    return entry


def list_entries(session: Session, *, cursor: str | None, limit: int,
                 action: str | None = None, actor_id: str | None = None
                 ) -> tuple[list[AuditEntry], str | None]:
    """Newest first; the cursor is the id of the last entry of the previous page."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    before = decode_cursor(cursor)
    if before:
        stmt = stmt.where(AuditEntry.id < before)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    return page(list(session.scalars(stmt)), limit)
