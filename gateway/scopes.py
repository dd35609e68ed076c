"""Data scope -> the owners whose records a user may see (pure functions, no I/O).

=================  ==========================================================================
``own``            me
``subordinates``   me + every user in the teams I manage and in all of their sub-teams
``team``           every user of my team (me alone if I have no team)
``team_tree``      every user of my team and of all its descendant teams
``all``            everyone: ``None``
=================  ==========================================================================
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DATA_SCOPES = ("own", "subordinates", "team", "team_tree", "all")
DEFAULT_SCOPE_BY_ROLE = {
    "admin": "all",
    "manager": "team_tree",
    "finance": "all",
    "sales": "own",
    "service": "own",
}


@dataclass(frozen=True)
class TeamNode:
    id: str
    parent_id: str | None
    manager_id: str | None


def subtree(roots: Iterable[str], teams: Iterable[TeamNode]) -> set[str]:
    """The given teams and all their descendants (safe against cycles)."""
    children: dict[str, list[str]] = defaultdict(list)
    for team in teams:
        if team.parent_id is not None:
            children[team.parent_id].append(team.id)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        team_id = stack.pop()
        if team_id in seen:
            continue
        seen.add(team_id)
        stack.extend(children.get(team_id, ()))
    return seen


def scope_team_ids(data_scope: str, user_id: str, team_id: str | None,
                   teams: Iterable[TeamNode]) -> set[str] | None:
    """Teams whose members the user sees; ``None`` for everyone."""
    teams = list(teams)
    if data_scope == "all":
        return None
    if data_scope == "own":
        return set()
    if data_scope == "subordinates":
        return subtree((t.id for t in teams if t.manager_id == user_id), teams)
    if data_scope == "team":
        return {team_id} if team_id else set()
    if data_scope == "team_tree":
        return subtree([team_id], teams) if team_id else set()
    raise ValueError(f"unknown data scope {data_scope!r}")


def visible_user_ids(data_scope: str, user_id: str, team_id: str | None,
                     teams: Iterable[TeamNode],
                     members: Mapping[str, Iterable[str]]) -> list[str] | None:
    """``visible_user_ids`` of the principal (sorted), ``None`` meaning everyone.

    ``members`` maps a team id to the ids of its users (it may hold more teams than needed).
    """
    team_ids = scope_team_ids(data_scope, user_id, team_id, teams)
    if team_ids is None:
        return None
    visible = {user_id}
    for tid in team_ids:
        visible.update(members.get(tid, ()))
    return sorted(visible)


def would_create_cycle(team_id: str, new_parent_id: str | None,
                       teams: Iterable[TeamNode]) -> bool:
    """True when making ``new_parent_id`` the parent of ``team_id`` closes a loop."""
    if new_parent_id is None:
        return False
    return new_parent_id in subtree([team_id], teams)


@dataclass(frozen=True)
class GrantSpec:
    """A live scope grant (``gateway.models.ScopeGrant``) as the pure rules need it."""

    target_user_id: str | None
    target_team_id: str | None
    include_subteams: bool
    access: str  # "read" | "write"


def grant_team_ids(grant: GrantSpec, teams: Iterable[TeamNode]) -> set[str]:
    if grant.target_team_id is None:
        return set()
    if grant.include_subteams:
        return subtree([grant.target_team_id], teams)
    return {grant.target_team_id}


def apply_grants(visible: list[str] | None, grants: Iterable[GrantSpec],
                 teams: Iterable[TeamNode], members: Mapping[str, Iterable[str]]
                 ) -> tuple[list[str] | None, list[str]]:
    """``(visible_user_ids, read_only_user_ids)`` once the grants are added to a scope.

    A read-write grant widens what the user may see *and* change; a read-only grant widens
    only what they see: its users are listed in ``read_only_user_ids`` unless the user's own
    scope or a read-write grant already covers them. ``visible=None`` (everyone) stays None.
    """
    if visible is None:
        return None, []
    teams = list(teams)
    writable = set(visible)
    readable: set[str] = set()
    for grant in grants:
        users: set[str] = set()
        if grant.target_user_id is not None:
            users.add(grant.target_user_id)
        for tid in grant_team_ids(grant, teams):
            users.update(members.get(tid, ()))
        (writable if grant.access == "write" else readable).update(users)
    return sorted(writable | readable), sorted(readable - writable)
