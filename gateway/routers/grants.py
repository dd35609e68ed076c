"""Scope grants (查看权限), administrators only."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from gateway import grants
from gateway.deps import CurrentUser, Db, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.security import GrantCreate, GrantPublic

router = ResourceRouter(prefix=f"{API}/permissions/grants", tags=["permissions"],
                        dependencies=[requires("grants.manage")], responses=ERROR_RESPONSES)
GrantId = Annotated[str, Path(max_length=64)]


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("", status_code=201, response_model=GrantPublic,
             summary="Grant a user extra data scope")
def create_grant(body: GrantCreate, db: Db, request: Request, admin: CurrentUser) -> dict:
    """Give `grantee_id` the records of one user (`target_user_id`) or of a team's members
    (`target_team_id`, with `include_subteams`), `read` or `write`, until `expires_at`
    (optional). Takes effect within the principal cache time (5 s) on every replica.
    Unknown users or teams, a past `expires_at`: 422."""
    grant = grants.create_grant(db, body, admin.id, _ip(request))
    db.commit()
    request.app.state.principals.clear()
    return grants.public(grant)


@router.get("", response_model=Page[GrantPublic], summary="List grants")
def list_grants(
    db: Db,
    grantee_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    items, next_cursor = grants.list_grants(db, cursor=cursor, limit=limit,
                                            grantee_id=grantee_id)
    return {"items": [grants.public(g) for g in items], "next_cursor": next_cursor}


@router.delete("/{grant_id}", status_code=204, summary="Revoke a grant")
def delete_grant(grant_id: GrantId, db: Db, request: Request, admin: CurrentUser) -> Response:
    grants.delete_grant(db, grant_id, admin.id, _ip(request))
    db.commit()
    request.app.state.principals.clear()
    return Response(status_code=204)
