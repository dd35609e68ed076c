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
