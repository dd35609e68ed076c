"""Users (administrators only)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from gateway import identity
from gateway.deps import CurrentUser, Db, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.models import User
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page, Role
from gateway.schemas.identity import UserCreate, UserPublic, UserUpdate

router = ResourceRouter(prefix=f"{API}/users",
                        tags=["users"], dependencies=[requires("users.manage")],
                        responses=ERROR_RESPONSES)
UserId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201, response_model=UserPublic, summary="Create a user",
             responses=CONFLICT_RESPONSE)
def create_user(body: UserCreate, db: Db, request: Request) -> User:
    """Unknown `team_id`: 422. Username already used: 409 `username_taken`. `data_scope`
    defaults by role (admin/finance `all`, manager `team_tree`, sales/service `own`)."""
    user = identity.create_user(db, body)
    db.commit()
    request.app.state.principals.clear()
    return user


@router.get("", response_model=Page[UserPublic], summary="List users")
def list_users(
    db: Db,
    role: Role | None = None,
    team_id: str | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100, description="part of username or name")]
    = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    """Ordered by creation; pass `next_cursor` back as `cursor` for the next page."""
    items, next_cursor = identity.list_users(
        db, cursor=cursor, limit=limit, role=role.value if role else None, team_id=team_id,
        active=active, q=q)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{user_id}", response_model=UserPublic, summary="Get a user")
def get_user(user_id: UserId, db: Db) -> User:
    return identity.get_user(db, user_id)


@router.patch("/{user_id}", response_model=UserPublic, summary="Change a user",
              responses=CONFLICT_RESPONSE)
def update_user(user_id: UserId, body: UserUpdate, db: Db, request: Request,
                admin: CurrentUser) -> User:
    """Change name, role, team, data scope, password or deactivate. Changing the role without
    a `data_scope` resets the scope to the role's default. You cannot deactivate yourself or
    change your own role (409 `cannot_demote_self`)."""
    user = identity.update_user(db, user_id, body, actor_id=admin.id)
    db.commit()
    request.app.state.principals.clear()
    return user
