"""API keys for integrations, administrators only."""
from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Path, Query, Request, Response
from sqlalchemy import select

from gateway import apikeys, identity
from gateway.deps import CurrentUser, Db, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.models import ApiKey
from gateway.pagination import decode_cursor, page
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.identity import UserCreate
from gateway.schemas.security import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic

router = ResourceRouter(prefix=f"{API}/api-keys", tags=["api keys"],
                        dependencies=[requires("api_keys.manage")], responses=ERROR_RESPONSES)
KeyId = Annotated[str, Path(max_length=64)]


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("", status_code=201, response_model=ApiKeyCreated, summary="Issue an API key",
             responses=CONFLICT_RESPONSE)
def create_key(body: ApiKeyCreate, db: Db, request: Request, admin: CurrentUser) -> dict:
    """The key acts as `user_id`, or as a new service-account user made from
    `service_account` (role + data scope like any user, no usable password). The answer
    carries the whole key in `secret` — shown only once; store it safely. Send it as
    `X-API-Key: crm_...` or `Authorization: Bearer crm_...`."""
    if body.service_account is not None:
        account = body.service_account
        user = identity.create_user(db, UserCreate(
            username=account.username, display_name=account.display_name,
            password=secrets.token_urlsafe(32), role=account.role, team_id=account.team_id,
            data_scope=account.data_scope))
        user_id = user.id
    else:
        assert body.user_id is not None
        user_id = identity.require_active_user(db, body.user_id, "user_id").id
    row, secret = apikeys.create_key(db, user_id=user_id, name=body.name, created_by=admin.id,
                                     ip=_ip(request))
    db.commit()
    request.app.state.principals.clear()
    return {**ApiKeyPublic.model_validate(row).model_dump(), "secret": secret}


@router.get("", response_model=Page[ApiKeyPublic], summary="List API keys")
def list_keys(
    db: Db,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    """Never shows secrets, only the `prefix`; revoked keys have `revoked_at`."""
    stmt = select(ApiKey).order_by(ApiKey.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(ApiKey.id > after)
    if user_id:
        stmt = stmt.where(ApiKey.user_id == user_id)
    items, next_cursor = page(list(db.scalars(stmt)), limit)
    return {"items": items, "next_cursor": next_cursor}


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_key(key_id: KeyId, db: Db, request: Request, admin: CurrentUser) -> Response:
    """The key stops working at once on this replica and within 5 s on the others."""
    apikeys.revoke_key(db, key_id, admin.id, _ip(request))
    db.commit()
    cache = getattr(request.app.state, "api_key_cache", None)
    if cache is not None:
        cache.clear()
    return Response(status_code=204)
