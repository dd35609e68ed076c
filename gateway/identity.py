"""Identity: users, teams, login, and the principal sent with every RPC call.

Every function taking a ``Session`` is synchronous and runs on a worker thread. The
principal of a user (docs/rpc.md) is cached in process for a few seconds
(``PrincipalCache``), so a busy gateway does not query the database per request.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmkit.errors import Conflict, NotFound, ValidationFailed
from gateway.db import Database
from gateway.models import ScopeGrant, Team, User
from gateway.pagination import decode_cursor, page
from gateway.permissions import permissions_of
from gateway.schemas.identity import TeamCreate, TeamUpdate, UserCreate, UserUpdate
from gateway.scopes import (
    DEFAULT_SCOPE_BY_ROLE,
    GrantSpec,
    TeamNode,
    apply_grants,
    grant_team_ids,
    scope_team_ids,
    visible_user_ids,
    would_create_cycle,
)
from gateway.security import hash_password, needs_rehash, verify_password

log = logging.getLogger(__name__)


def invalid(field_name: str, msg: str, type_: str = "value_error") -> ValidationFailed:
    """A 422 shaped like the request-validation errors: details name the body field."""
    return ValidationFailed("validation_error", msg,
                            [{"loc": ["body", field_name], "msg": msg, "type": type_}])


# -- the principal ---------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """The authenticated user and, resolved from their data scope, the principal."""

    id: str
    username: str
    display_name: str
    role: str
    team_id: str | None
    data_scope: str
    active: bool
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    visible_user_ids: list[str] | None
    #: users seen only through read-only grants (查看权限): never writable
    read_only_user_ids: list[str] = field(default_factory=list)
    #: set when the request authenticated with an API key (``gateway.apikeys``)
    api_key_id: str | None = None
    principal: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "principal", {
            "user_id": self.id, "username": self.username, "role": self.role,
            "team_id": self.team_id, "data_scope": self.data_scope,
            "visible_user_ids": self.visible_user_ids,
            "read_only_user_ids": list(self.read_only_user_ids),
        })

    def for_write(self) -> Identity:
        """The identity a state-changing request runs as: users seen only through read-only
        grants are dropped from ``visible_user_ids``, so the services treat their records as
        outside the caller's scope (404) for every write."""
        if not self.read_only_user_ids or self.visible_user_ids is None:
            return self
        hidden = set(self.read_only_user_ids)
        return dataclasses.replace(
            self, visible_user_ids=[u for u in self.visible_user_ids if u not in hidden])

    def with_api_key(self, api_key_id: str) -> Identity:
        return dataclasses.replace(self, api_key_id=api_key_id)

    def sees(self, user_id: str) -> bool:
        return self.visible_user_ids is None or user_id in self.visible_user_ids

    def me(self) -> dict[str, Any]:
        return {
            "id": self.id, "username": self.username, "display_name": self.display_name,
            "role": self.role, "team_id": self.team_id, "data_scope": self.data_scope,
            "active": self.active, "created_at": self.created_at, "updated_at": self.updated_at,
            "visible_user_ids": self.visible_user_ids,
            "read_only_user_ids": list(self.read_only_user_ids),
            "permissions": permissions_of(self.role),
        }


def all_team_nodes(session: Session) -> list[TeamNode]:
    rows = session.execute(select(Team.id, Team.parent_id, Team.manager_id))
    return [TeamNode(id=r.id, parent_id=r.parent_id, manager_id=r.manager_id) for r in rows]


def load_identity(session: Session, user_id: str) -> Identity | None:
    """The identity of an active user, or None (unknown or deactivated)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    teams = all_team_nodes(session)
    team_ids = scope_team_ids(user.data_scope, user.id, user.team_id, teams)
    grants = live_grants(session, user.id) if team_ids is not None else []
    for grant in grants:
        team_ids |= grant_team_ids(grant, teams)
    members: dict[str, list[str]] = defaultdict(list)
    if team_ids:
        rows = session.execute(select(User.id, User.team_id).where(User.team_id.in_(team_ids)))
        for row in rows:
            members[row.team_id].append(row.id)
    visible, read_only = apply_grants(
        visible_user_ids(user.data_scope, user.id, user.team_id, teams, members), grants,
        teams, members)
    return Identity(
        id=user.id, username=user.username, display_name=user.display_name, role=user.role,
        team_id=user.team_id, data_scope=user.data_scope, active=user.active,
        created_at=user.created_at, updated_at=user.updated_at,
        visible_user_ids=visible, read_only_user_ids=read_only,
    )


def live_grants(session: Session, user_id: str,
                now: dt.datetime | None = None) -> list[GrantSpec]:
    """The user's scope grants that have not expired."""
    now = now or dt.datetime.now(dt.UTC)
    rows = session.scalars(select(ScopeGrant).where(
        ScopeGrant.grantee_id == user_id,
        or_(ScopeGrant.expires_at.is_(None), ScopeGrant.expires_at > now)))
    return [GrantSpec(g.target_user_id, g.target_team_id, g.include_subteams, g.access)
            for g in rows]


class PrincipalCache:
    """Identities by user id for ``ttl`` seconds (in process; other replicas expire alone)."""

    MAX_ENTRIES = 10_000

    def __init__(self, database: Database, ttl: float) -> None:
        self.database = database
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Identity | None]] = {}
        self._loading: dict[str, asyncio.Future[Identity | None]] = {}
        self._generation = 0  # bumped by clear(): a load that straddles it is not cached

    async def get(self, user_id: str) -> Identity | None:
        now = monotonic()
        entry = self._entries.get(user_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        loading = self._loading.get(user_id)
        if loading is not None:  # one database load per user, however many requests wait
            return await asyncio.shield(loading)
        future: asyncio.Future[Identity | None] = asyncio.get_running_loop().create_future()
        self._loading[user_id] = future
        generation = self._generation
        try:
            identity = await run_in_threadpool(self.database.run, load_identity, user_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            self._loading.pop(user_id, None)
        future.set_result(identity)
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        if self.ttl > 0 and generation == self._generation:
            self._entries[user_id] = (monotonic() + self.ttl, identity)
        return identity

    def clear(self) -> None:
        """Forget every identity (after a change of users or teams)."""
        self._generation += 1
        self._entries.clear()


# -- login and the first administrator ------------------------------------------------


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def ensure_admin(session: Session, username: str, password: str) -> bool:
    """Create the first administrator unless a user with that name exists."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        return False
    session.add(User(username=username, display_name=username, role="admin", data_scope="all",
                     active=True, password_hash=hash_password(password)))
    try:
        session.flush()
    except IntegrityError:  # another replica created it at the same moment
        session.rollback()
        return False
    return True


# -- users ----------------------------------------------------------------------------


def _require_team(session: Session, team_id: str | None, field_name: str) -> None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise invalid(field_name, f"team {team_id!r} does not exist", "unknown_team")


def require_active_user(session: Session, user_id: str, field_name: str,
                        visible: list[str] | None = None) -> User:
    """422 unless ``user_id`` is an active user (and, when given, one of ``visible``)."""
    user = session.get(User, user_id)
    if user is None:
        raise invalid(field_name, f"user {user_id!r} does not exist", "unknown_user")
    if not user.active:
        raise invalid(field_name, f"user {user_id!r} is not active", "inactive_user")
    if visible is not None and user_id not in visible:
        raise invalid(field_name, f"user {user_id!r} is outside your data scope",
                      "user_out_of_scope")
    return user


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", "User not found")
    return user


def create_user(session: Session, data: UserCreate) -> User:
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict("username_taken", f"Username {data.username!r} is already taken",
                       {"username": data.username})
    _require_team(session, data.team_id, "team_id")
    user = User(
        username=data.username, display_name=data.display_name or data.username,
        role=data.role.value, team_id=data.team_id,
        data_scope=(data.data_scope or DEFAULT_SCOPE_BY_ROLE[data.role.value]),
        active=data.active, password_hash=hash_password(data.password),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("username_taken", f"Username {data.username!r} is already taken",
                       {"username": data.username}) from None
    return user


def update_user(session: Session, user_id: str, patch: UserUpdate, actor_id: str) -> User:
    user = get_user(session, user_id)
    changes = patch.model_dump(exclude_unset=True)
    if user_id == actor_id and (changes.get("active") is False
                                or changes.get("role", user.role) != user.role):
        raise Conflict("cannot_demote_self",
                       "You cannot deactivate yourself or change your own role")
    if "team_id" in changes:
        _require_team(session, changes["team_id"], "team_id")
        user.team_id = changes["team_id"]
    if "role" in changes:
        user.role = changes["role"].value
        if "data_scope" not in changes:
            user.data_scope = DEFAULT_SCOPE_BY_ROLE[user.role]
    if "data_scope" in changes:
        user.data_scope = changes["data_scope"].value
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    if "active" in changes:
        user.active = changes["active"]
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
    session.flush()
    return user


def list_users(session: Session, *, cursor: str | None, limit: int, role: str | None = None,
               team_id: str | None = None, active: bool | None = None,
               q: str | None = None) -> tuple[list[User], str | None]:
    stmt = select(User).order_by(User.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(User.id > after)
    if role:
        stmt = stmt.where(User.role == role)
    if team_id:
        stmt = stmt.where(User.team_id == team_id)
    if active is not None:
        stmt = stmt.where(User.active == active)
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(or_(User.username.ilike(pattern), User.display_name.ilike(pattern)))
    return page(list(session.scalars(stmt)), limit)


# -- teams ----------------------------------------------------------------------------


def get_team(session: Session, team_id: str) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound("team_not_found", "Team not found")
    return team


def create_team(session: Session, data: TeamCreate) -> Team:
    _require_team(session, data.parent_id, "parent_id")
    if data.manager_id is not None:
        require_active_user(session, data.manager_id, "manager_id")
    team = Team(name=data.name, parent_id=data.parent_id, manager_id=data.manager_id)
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, team_id: str, patch: TeamUpdate) -> Team:
    team = get_team(session, team_id)
    changes = patch.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        parent_id = changes["parent_id"]
        _require_team(session, parent_id, "parent_id")
        if would_create_cycle(team.id, parent_id, all_team_nodes(session)):
            raise invalid("parent_id", "a team cannot be placed inside its own subtree",
                          "team_cycle")
        team.parent_id = parent_id
    if "manager_id" in changes:
        if changes["manager_id"] is not None:
            require_active_user(session, changes["manager_id"], "manager_id")
        team.manager_id = changes["manager_id"]
    if "name" in changes:
        team.name = changes["name"]
    session.flush()
    return team


def list_teams(session: Session, *, cursor: str | None, limit: int,
               parent_id: str | None = None) -> tuple[list[Team], str | None]:
    stmt = select(Team).order_by(Team.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(Team.id > after)
    if parent_id:
        stmt = stmt.where(Team.parent_id == parent_id)
    return page(list(session.scalars(stmt)), limit)
