"""Passwords (argon2id) and access tokens (JWT, HS256, short-lived).

Hashing is deliberately slow: call these from a worker thread, never on the event loop.
"""
from __future__ import annotations

import datetime as dt
import time
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


#: tokens whose signature and claims were verified: (token, secret) -> (user id, exp)
_VERIFIED: dict[tuple[str, str], tuple[str, float]] = {}
VERIFIED_MAX = 20_000   # a full cache is emptied (a token is then verified once more)


def decode_access_token(token: str, secret: str) -> str:
    """The user id of a valid access token; ``Unauthorized`` for any other token.

    A token is verified once: the signature check (HMAC + base64 + JSON, ~0.1 ms, twice per
    request: rate-limit key and identity) is remembered with the token's expiry, which is
    still checked on every use."""
    known = _VERIFIED.get((token, secret))
    if known is not None:
        if time.time() < known[1]:
            return known[0]
        del _VERIFIED[(token, secret)]
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "iss"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token_expired", "The access token has expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid_token", "The access token is not valid") from None
    if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
        raise Unauthorized("invalid_token", "The access token is not valid")
    if len(_VERIFIED) >= VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(token, secret)] = (claims["sub"], float(claims["exp"]))
    return claims["sub"]
