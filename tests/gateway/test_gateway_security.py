"""Unit tests (no I/O): password hashing, access tokens, data scopes, the role table."""
from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from crmkit.errors import Unauthorized
from gateway.permissions import PERMISSIONS, ROLES, allowed, permissions_of
from gateway.scopes import (
    DEFAULT_SCOPE_BY_ROLE,
    TeamNode,
    subtree,
    visible_user_ids,
    would_create_cycle,
)
from gateway.security import (
    create_access_token,
    decode_access_token,
    hash_password,
    needs_rehash,
    verify_password,
)

SECRET = "unit-test-secret-0123456789abcdef0123"


def test_password_hash_is_salted_argon2_and_verifies():
    first, second = hash_password("S3cure-pass"), hash_password("S3cure-pass")
    assert first.startswith("$argon2id$") and first != second
    assert verify_password(first, "S3cure-pass")
    assert not verify_password(first, "s3cure-pass")
    assert not verify_password(None, "S3cure-pass")          # unknown user
    assert not verify_password("not-a-hash", "S3cure-pass")
    assert not needs_rehash(first)


def test_access_token_round_trip():
    token = create_access_token("user-1", SECRET, minutes=30)
    assert token.expires_in == 1800
    assert decode_access_token(token.token, SECRET) == "user-1"
    claims = jwt.decode(token.token, SECRET, algorithms=["HS256"], issuer="crm-gateway")
    assert claims["exp"] - claims["iat"] == 1800


def test_expired_token_is_refused():
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)
    token = create_access_token("user-1", SECRET, minutes=30, now=issued)
    with pytest.raises(Unauthorized) as caught:
        decode_access_token(token.token, SECRET)
    assert caught.value.code == "token_expired"


def test_a_verified_token_still_expires():
    """Tokens are verified once and remembered; their expiry is checked at every use."""
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=58)
    token = create_access_token("user-2", SECRET, minutes=1, now=issued)
    assert decode_access_token(token.token, SECRET) == "user-2"
    assert decode_access_token(token.token, SECRET) == "user-2"        # remembered
    expires = jwt.decode(token.token, SECRET, algorithms=["HS256"], issuer="crm-gateway",
                         options={"verify_exp": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Unauthorized) as caught:
        decode_access_token(token.token, SECRET)
    assert caught.value.code == "token_expired"
    fresh = create_access_token("user-2", SECRET, 1).token
    assert decode_access_token(fresh, SECRET) == "user-2"
    with pytest.raises(Unauthorized):          # remembered under its secret only
        decode_access_token(fresh, "another-secret-0123456789abcdef0123")


@pytest.mark.parametrize("token", [
    create_access_token("user-1", "another-secret-0123456789abcdef0123", 30).token,
    create_access_token("user-1", SECRET, 30).token[:-2] + "xx",
    jwt.encode({"sub": "user-1", "exp": 9999999999, "iat": 1, "iss": "crm-gateway"}, SECRET,
               algorithm="HS256"),                                   # no typ: not an access token
    jwt.encode({"sub": "user-1", "exp": 9999999999, "iat": 1, "typ": "access"}, SECRET,
               algorithm="HS256"),                                   # no issuer
    jwt.encode({"sub": "user-1", "exp": 9999999999, "iat": 1, "iss": "crm-gateway",
                "typ": "access"}, None, algorithm="none"),           # unsigned
    "not-a-jwt",
])
def test_invalid_tokens_are_refused(token):
    with pytest.raises(Unauthorized) as caught:
        decode_access_token(token, SECRET)
    assert caught.value.code == "invalid_token"


# The tree used by the scope table:
#   hq (manager ceo) ── east (manager m_east) ── east1 (manager lead1): s1, s2
#                    │                       └── east2: s3
#                    └── west (manager m_west): s4
#   members: hq: ceo; east: m_east; east1: lead1, s1, s2; east2: s3; west: m_west, s4
#   loner has no team.
TEAMS = [
    TeamNode("hq", None, "ceo"),
    TeamNode("east", "hq", "m_east"),
    TeamNode("east1", "east", "lead1"),
    TeamNode("east2", "east", None),
    TeamNode("west", "hq", "m_west"),
]
MEMBERS = {"hq": ["ceo"], "east": ["m_east"], "east1": ["lead1", "s1", "s2"],
           "east2": ["s3"], "west": ["m_west", "s4"]}
TEAM_OF = {u: t for t, users in MEMBERS.items() for u in users} | {"loner": None}
EVERYONE_IN_TEAMS = sorted(TEAM_OF.keys() - {"loner"})


@pytest.mark.parametrize(("user", "scope", "expected"), [
    ("s1", "own", ["s1"]),
    ("m_east", "own", ["m_east"]),
    ("s1", "team", ["lead1", "s1", "s2"]),
    ("s3", "team", ["s3"]),
    ("loner", "team", ["loner"]),
    ("m_east", "team", ["m_east"]),
    ("m_east", "team_tree", ["lead1", "m_east", "s1", "s2", "s3"]),
    ("s3", "team_tree", ["s3"]),
    ("ceo", "team_tree", EVERYONE_IN_TEAMS),
    ("loner", "team_tree", ["loner"]),
    ("m_east", "subordinates", ["lead1", "m_east", "s1", "s2", "s3"]),
    ("lead1", "subordinates", ["lead1", "s1", "s2"]),
    ("m_west", "subordinates", ["m_west", "s4"]),
    ("s1", "subordinates", ["s1"]),                  # manages no team
    ("ceo", "subordinates", EVERYONE_IN_TEAMS),
    ("s1", "all", None),
    ("loner", "all", None),
])
def test_visible_user_ids_by_scope(user, scope, expected):
    assert visible_user_ids(scope, user, TEAM_OF[user], TEAMS, MEMBERS) == expected


def test_subordinates_follow_a_manager_of_two_teams():
    teams = [*TEAMS, TeamNode("north", None, "s4")]
    members = {**MEMBERS, "north": ["n1"]}
    assert visible_user_ids("subordinates", "s4", "west", teams, members) == ["n1", "s4"]


def test_unknown_scope_is_an_error():
    with pytest.raises(ValueError):
        visible_user_ids("galaxy", "s1", "east1", TEAMS, MEMBERS)


def test_subtree_and_cycles():
    assert subtree(["east"], TEAMS) == {"east", "east1", "east2"}
    cyclic = [TeamNode("a", "b", None), TeamNode("b", "a", None)]
    assert subtree(["a"], cyclic) == {"a", "b"}                        # terminates
    assert would_create_cycle("east", "east1", TEAMS)
    assert would_create_cycle("east", "east", TEAMS)
    assert not would_create_cycle("east1", "west", TEAMS)
    assert not would_create_cycle("east", None, TEAMS)


def test_default_scope_per_role():
    assert DEFAULT_SCOPE_BY_ROLE == {"admin": "all", "manager": "team_tree", "finance": "all",
                                     "sales": "own", "service": "own"}


def test_role_table():
    assert set(PERMISSIONS["users.manage"]) == {"admin"}
    assert allowed("manager", "leads.assign") and not allowed("sales", "leads.assign")
    assert allowed("sales", "leads.claim") and not allowed("service", "leads.claim")
    assert all(set(roles) <= set(ROLES) for roles in PERMISSIONS.values())
    assert "users.manage" in permissions_of("admin")
    assert "users.manage" not in permissions_of("finance")
