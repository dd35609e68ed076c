"""Who approves a contract: the gateway's walk up the team tree (pure, a table)."""
from __future__ import annotations

import pytest

from gateway.routers.contracts import approval_chain
from gateway.scopes import TeamNode

TEAMS = [
    TeamNode("hq", None, "ceo"),
    TeamNode("east", "hq", "vp"),
    TeamNode("sh", "east", "mgr"),
    TeamNode("nomgr", "east", None),
    TeamNode("solo", None, None),
    TeamNode("loop-a", "loop-b", None),
    TeamNode("loop-b", "loop-a", None),
]
ACTIVE = {"ceo", "vp", "mgr", "rep", "fin1", "fin2", "admin1"}


@pytest.mark.parametrize(("owner", "team", "active", "expected"), [
    ("rep", "sh", ACTIVE, ["mgr", "vp"]),                  # manager, then manager's manager
    ("mgr", "sh", ACTIVE, ["vp", "ceo"]),                  # a manager's own contract goes up
    ("rep", "nomgr", ACTIVE, ["vp", "ceo"]),               # a team without a manager
    ("rep", "east", ACTIVE, ["vp", "ceo"]),
    ("vp", "east", ACTIVE, ["ceo", "fin1"]),               # top of the tree: finance second
    ("ceo", "hq", ACTIVE, ["admin1", "fin1"]),             # nobody above: an administrator
    ("rep", "sh", ACTIVE - {"mgr"}, ["vp", "ceo"]),        # inactive managers are skipped
    ("rep", "solo", ACTIVE, ["admin1", "fin1"]),
    ("rep", None, ACTIVE, ["admin1", "fin1"]),
    ("rep", "loop-a", ACTIVE, ["admin1", "fin1"]),         # a cycle ends the walk
    ("fin1", "solo", ACTIVE, ["admin1", "fin2"]),          # nobody approves their own
    ("admin1", None, ACTIVE, ["fin1"]),
])
def test_approval_chain(owner, team, active, expected):
    finance = [u for u in ("fin1", "fin2") if u in active]
    assert approval_chain(owner, team, TEAMS, active, finance, ["admin1"]) == expected
