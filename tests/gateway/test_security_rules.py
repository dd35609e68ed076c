"""Pure rules of gateway security: grants folded into a scope, key shape, token bucket maths."""
from __future__ import annotations

import dataclasses

import pytest

from gateway import apikeys
from gateway.identity import Identity
from gateway.permissions import allowed
from gateway.scopes import GrantSpec, TeamNode, apply_grants

TEAMS = [TeamNode("east", None, "m1"), TeamNode("east-1", "east", None),
         TeamNode("west", None, "m2")]
MEMBERS = {"east": ["m1", "e1"], "east-1": ["e2"], "west": ["m2", "w1"]}


def grant(user=None, team=None, sub=False, access="read"):
    return GrantSpec(user, team, sub, access)


@pytest.mark.parametrize("visible, grants, expected_visible, expected_read_only", [
    (["me"], [], ["me"], []),
    (None, [grant(user="w1")], None, []),                                  # all stays all
    (["me"], [grant(user="w1")], ["me", "w1"], ["w1"]),
    (["me"], [grant(user="w1", access="write")], ["me", "w1"], []),
    (["me"], [grant(team="east")], ["e1", "m1", "me"], ["e1", "m1"]),
    (["me"], [grant(team="east", sub=True)], ["e1", "e2", "m1", "me"], ["e1", "e2", "m1"]),
    (["me", "e1"], [grant(team="east")], ["e1", "m1", "me"], ["m1"]),     # own scope wins
    (["me"], [grant(team="east", sub=True), grant(user="e2", access="write")],
     ["e1", "e2", "m1", "me"], ["e1", "m1"]),                             # write wins
    (["me"], [grant(user="me")], ["me"], []),
])
def test_apply_grants(visible, grants, expected_visible, expected_read_only):
    assert apply_grants(visible, grants, TEAMS, MEMBERS) == (expected_visible,
                                                             expected_read_only)


def identity(visible, read_only):
    return Identity(id="me", username="me", display_name="me", role="sales", team_id=None,
                    data_scope="own", active=True, created_at=None, updated_at=None,
                    visible_user_ids=visible, read_only_user_ids=read_only)


def test_write_identity_drops_read_only_users():
    reader = identity(["me", "w1", "w2"], ["w1"])
    assert reader.principal["visible_user_ids"] == ["me", "w1", "w2"]
    assert reader.principal["read_only_user_ids"] == ["w1"]
    writer = reader.for_write()
    assert writer.principal["visible_user_ids"] == ["me", "w2"]
    assert writer.sees("w2") and not writer.sees("w1")
    plain = identity(["me"], [])
    assert plain.for_write() is plain
    assert dataclasses.replace(plain, api_key_id="k").with_api_key("k2").api_key_id == "k2"


def test_api_key_shape_and_hash():
    new = apikeys.generate_key()
    assert new.secret.startswith(f"crm_{new.prefix}_") and len(new.prefix) == 12
    assert apikeys.parse_prefix(new.secret) == new.prefix
    assert new.secret_hash == apikeys.hash_secret(new.secret) and len(new.secret_hash) == 64
    assert new.secret_hash != apikeys.generate_key().secret_hash
    for bad in ("crm_short_x", "crm_" + "A" * 12 + "_" + "x" * 43, new.secret + "x", ""):
        assert apikeys.parse_prefix(bad) is None
    assert apikeys.looks_like_key("crm_abc") and not apikeys.looks_like_key("eyJhbGci")


@pytest.mark.parametrize("role, permission, expected", [
    ("admin", "grants.manage", True), ("manager", "grants.manage", False),
    ("admin", "api_keys.manage", True), ("finance", "api_keys.manage", False),
    ("admin", "webhooks.manage", True), ("sales", "webhooks.manage", False),
    ("admin", "audit.read", True), ("manager", "audit.read", False),
    ("finance", "payments.write", True), ("sales", "payments.write", False),
    ("manager", "payments.write", False), ("sales", "leads.assign", False),
    ("manager", "leads.assign", True), ("manager", "users.manage", False),
    ("manager", "lead_pools.manage", False),
])
def test_function_level_rules(role, permission, expected):
    assert allowed(role, permission) is expected
