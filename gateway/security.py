"""Passwords (argon2id) and access tokens (JWT, HS256, short-lived).

Hashing is deliberately slow: call these from a worker thread, never on the event loop.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crmkit.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "crm-gateway"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown user (``None``) costs the same time."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int  # seconds


def create_access_token(user_id: str, secret: str, minutes: int,
                        now: dt.datetime | None = None) -> AccessToken:
    issued = now or dt.datetime.now(dt.UTC)
    expires_in = minutes * 60
    claims = {
        "sub": user_id,
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int(issued.timestamp()) + expires_in,
        "typ": "access",
    }
    return AccessToken(jwt.encode(claims, secret, algorithm=ALGORITHM), expires_in)


def decode_access_token(token: str, secret: str) -> str:
    """The user id of a valid access token; ``Unauthorized`` for any other token."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "iss"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token_expired", "The access token has expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid_token", "The access token is not valid") from None
    if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
        raise Unauthorized("invalid_token", "The access token is not valid")
    return claims["sub"]
