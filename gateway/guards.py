"""Checks a route makes before it calls a service (they need the gateway's own data)."""
from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from crmkit.errors import Forbidden
from gateway.db import Database
from gateway.identity import Identity, require_active_user
from gateway.permissions import allowed
from gateway.rpc import RpcClient


def _owner_team(session: Session, owner_id: str, visible: list[str] | None,
                field_name: str) -> str | None:
    return require_active_user(session, owner_id, field_name, visible).team_id


async def ensure_owner_allowed(database: Database, user: Identity, owner_id: str,
                               field_name: str = "owner_id") -> str | None:
    """Let ``user`` make ``owner_id`` the owner of a record; returns the owner's team.

    Anyone may name themselves; naming another user needs a manager or admin (403), and
    that user must exist, be active and be inside the caller's data scope (422).
    """
    if owner_id == user.id:
        return user.team_id
    if not allowed(user.role, "owners.assign_others"):
        raise Forbidden("forbidden", "Only managers and administrators may name another owner",
                        {"field": field_name})
    return await run_in_threadpool(database.run, _owner_team, owner_id, user.visible_user_ids,
                                   field_name)


async def ensure_assignable(database: Database, user: Identity, owner_id: str,
                            field_name: str = "owner_id") -> None:
    """422 unless ``owner_id`` is an active user within the caller's data scope."""
    await run_in_threadpool(database.run, require_active_user, owner_id, field_name,
                            user.visible_user_ids)


async def ensure_active_user(database: Database, user_id: str, field_name: str) -> None:
    """422 unless ``user_id`` is an active user."""
    await run_in_threadpool(database.run, require_active_user, user_id, field_name)


async def ensure_customer_visible(rpc: RpcClient, principal: dict[str, Any],
                                  customer_id: str) -> dict[str, Any]:
    """The customer as the caller sees it; 404 if it is unknown or outside their scope."""
    return await rpc.call("customers", "get_customer", principal=principal,
                          customer_id=customer_id)
