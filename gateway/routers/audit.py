"""The security audit log, administrators only."""
from __future__ import annotations

from typing import Annotated

from fastapi import Query

from gateway import audit
from gateway.deps import Db, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.security import AuditEntryPublic

router = ResourceRouter(prefix=f"{API}/audit", tags=["audit"],
                        dependencies=[requires("audit.read")], responses=ERROR_RESPONSES)


@router.get("", response_model=Page[AuditEntryPublic], summary="The audit log, newest first")
def list_audit(
    db: Db,
    action: Annotated[str | None, Query(max_length=64, description=", ".join(audit.ACTIONS))]
    = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    """Logins, failed and throttled logins, scope grants, API key issue/revoke/use."""
    items, next_cursor = audit.list_entries(db, cursor=cursor, limit=limit, action=action,
                                            actor_id=actor_id)
    return {"items": items, "next_cursor": next_cursor}
