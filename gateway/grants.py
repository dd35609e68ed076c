"""Scope grants (查看权限): an administrator widens a user's data scope.

A grant gives ``grantee`` the records owned by one user, or by the members of a team
(optionally with its sub-teams), read-only or read-write, optionally until ``expires_at``.
``gateway.identity.load_identity`` folds live grants into the principal: their users join
``visible_user_ids``; users seen only through read-only grants are also listed in
``read_only_user_ids`` and dropped from the principal of every state-changing request
(``Identity.for_write``), so the services answer 404 to a write on their records.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmkit.errors import NotFound
from gateway import audit
from gateway.identity import invalid, require_active_user
from gateway.models import ScopeGrant, Team
from gateway.pagination import decode_cursor, page
from gateway.schemas.security import GrantCreate


def create_grant(session: Session, data: GrantCreate, actor_id: str,
                 ip: str | None = None, now: dt.datetime | None = None) -> ScopeGrant:
    now = now or dt.datetime.now(dt.UTC)
    require_active_user(session, data.grantee_id, "grantee_id")
    if data.target_user_id is not None:
        require_active_user(session, data.target_user_id, "target_user_id")
        if data.target_user_id == data.grantee_id:
            raise invalid("target_user_id", "a user always sees their own records",
                          "self_grant")
    if data.target_team_id is not None and session.get(Team, data.target_team_id) is None:
        raise invalid("target_team_id", f"team {data.target_team_id!r} does not exist",
                      "unknown_team")
    if data.expires_at is not None and data.expires_at <= now:
        raise invalid("expires_at", "must be in the future", "expired")
    grant = ScopeGrant(grantee_id=data.grantee_id, target_user_id=data.target_user_id,
                       target_team_id=data.target_team_id,
                       include_subteams=data.include_subteams, access=data.access.value,
                       expires_at=data.expires_at.astimezone(dt.UTC) if data.expires_at else None,
                       created_by=actor_id)
    session.add(grant)
    session.flush()
    audit.record(session, "grant.created", actor_id=actor_id, target=grant.id, ip=ip, data={
        "grantee_id": grant.grantee_id, "target_user_id": grant.target_user_id,
        "target_team_id": grant.target_team_id, "include_subteams": grant.include_subteams,
        "access": grant.access,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None})
    return grant


def public(grant: ScopeGrant, now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.UTC)
    return {
        "id": grant.id, "grantee_id": grant.grantee_id, "target_user_id": grant.target_user_id,
        "target_team_id": grant.target_team_id, "include_subteams": grant.include_subteams,
        "access": grant.access, "expires_at": grant.expires_at, "created_by": grant.created_by,
        "created_at": grant.created_at,
        "expired": grant.expires_at is not None and grant.expires_at <= now,
    }


def list_grants(session: Session, *, cursor: str | None, limit: int,
                grantee_id: str | None = None) -> tuple[list[ScopeGrant], str | None]:
    stmt = select(ScopeGrant).order_by(ScopeGrant.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(ScopeGrant.id > after)
    if grantee_id:
        stmt = stmt.where(ScopeGrant.grantee_id == grantee_id)
    return page(list(session.scalars(stmt)), limit)


def delete_grant(session: Session, grant_id: str, actor_id: str, ip: str | None = None) -> None:
    grant = session.get(ScopeGrant, grant_id)
    if grant is None:
        raise NotFound("grant_not_found", "Grant not found")
    session.delete(grant)
    audit.record(session, "grant.revoked", actor_id=actor_id, target=grant_id, ip=ip,
                 data={"grantee_id": grant.grantee_id})
