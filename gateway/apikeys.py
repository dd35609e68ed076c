"""API keys for integrations: ``crm_<prefix>_<secret>``, stored as a SHA-256 hash.

A key belongs to a user — normally a *service account* created for the integration, with a
role and a data scope like any user — and authenticates as that user: header
``X-API-Key: crm_...`` or ``Authorization: Bearer crm_...``. The secret has 256 bits of
entropy, so a plain SHA-256 (no slow hash) is enough; the 12-character prefix finds the row,
a constant-time comparison checks the hash. The full key is shown once, on creation.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmkit.errors import NotFound
from gateway import audit
from gateway.models import ApiKey, User

KEY_PREFIX = "crm_"
_KEY_SHAPE = re.compile(r"^crm_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret: str  # the whole key, shown once
    secret_hash: str


def hash_secret(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> NewKey:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    prefix = "".join(secrets.choice(alphabet) for _ in range(12))
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(prefix, key, hash_secret(key))


def looks_like_key(value: str | None) -> bool:
    return bool(value) and value.startswith(KEY_PREFIX)


def parse_prefix(key: str) -> str | None:
    match = _KEY_SHAPE.match(key)
    return match.group(1) if match else None


def verify_key(session: Session, key: str) -> ApiKey | None:
    """The live key row for ``key`` (of an active user), or None."""
    prefix = parse_prefix(key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(key)):
        return None
    if row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return row


def touch(session: Session, key_id: str, user_id: str, ip: str | None,
          now: dt.datetime | None = None) -> None:
    """Record a use of the key: ``last_used_at`` and an ``api_key.used`` audit entry."""
    now = now or dt.datetime.now(dt.UTC)
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
    audit.record(session, "api_key.used", actor_id=user_id, target=key_id, ip=ip)


def create_key(session: Session, *, user_id: str, name: str, created_by: str,
               ip: str | None = None) -> tuple[ApiKey, str]:
    new = generate_key()
    row = ApiKey(user_id=user_id, name=name, prefix=new.prefix, secret_hash=new.secret_hash,
                 created_by=created_by)
    session.add(row)
    session.flush()
    audit.record(session, "api_key.created", actor_id=created_by, target=row.id, ip=ip,
                 data={"user_id": user_id, "name": name, "prefix": new.prefix})
    return row, new.secret


def revoke_key(session: Session, key_id: str, actor_id: str, ip: str | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("api_key_not_found", "API key not found")
    if row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)
        audit.record(session, "api_key.revoked", actor_id=actor_id, target=row.id, ip=ip,
                     data={"user_id": row.user_id, "prefix": row.prefix})
    session.flush()
    return row
