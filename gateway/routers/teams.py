"""Teams: the tree of departments, each with a manager (administrators only)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from gateway import identity
from gateway.deps import Db, requires
from gateway.errors import ERROR_RESPONSES
from gateway.models import Team
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.identity import TeamCreate, TeamPublic, TeamUpdate

router = ResourceRouter(prefix=f"{API}/teams",
                        tags=["teams"], dependencies=[requires("teams.manage")],
                        responses=ERROR_RESPONSES)
TeamId = Annotated[str, Path(max_length=64)]


@router.post("", status_code=201, response_model=TeamPublic, summary="Create a team")
def create_team(body: TeamCreate, db: Db, request: Request) -> Team:
    """Unknown `parent_id`, unknown or inactive `manager_id`: 422."""
    team = identity.create_team(db, body)
    db.commit()
    request.app.state.principals.clear()
    return team


@router.get("", response_model=Page[TeamPublic], summary="List teams")
def list_teams(
    db: Db,
    parent_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    items, next_cursor = identity.list_teams(db, cursor=cursor, limit=limit, parent_id=parent_id)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{team_id}", response_model=TeamPublic, summary="Get a team")
def get_team(team_id: TeamId, db: Db) -> Team:
    return identity.get_team(db, team_id)


@router.patch("/{team_id}", response_model=TeamPublic, summary="Change a team")
def update_team(team_id: TeamId, body: TeamUpdate, db: Db, request: Request) -> Team:
    """Rename, move (`parent_id`; a parent inside the team's own subtree is a cycle: 422) or
    change the manager. Visibility of managers' data follows at once."""
    team = identity.update_team(db, team_id, body)
    db.commit()
    request.app.state.principals.clear()
    return team
