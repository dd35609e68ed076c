"""Shared dependencies of the routers, as ``Annotated`` aliases.

=====================  ======================================================================
``CurrentUser``        the authenticated ``Identity`` (401 without a valid bearer token)
``CurrentPrincipal``   its principal dict, passed to every RPC call (docs/rpc.md)
``StreamUser``         like ``CurrentUser``, also accepting ``?access_token=`` (EventSource)
``Rpc``                the process-wide ``RpcClient``
``Db``                 a SQLAlchemy session (sync routes only; committed after the route)
``DatabaseDep``        the ``Database``, for ``run_in_threadpool(database.run, fn, ...)``
``SettingsDep``        the ``Settings``
``requires(perm)``     route dependency: 403 unless the user's role has the permission
=====================  ======================================================================
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from redis.asyncio import Redis
from sqlalchemy.orm import Session

from crmkit.errors import Forbidden, Unauthorized
from gateway.db import Database
from gateway.identity import Identity, PrincipalCache
from gateway.permissions import allowed
from gateway.rpc import RpcClient
from gateway.security import decode_access_token
from gateway.settings import Settings

TOKEN_URL = "/api/v1/auth/token"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_rpc(request: Request) -> RpcClient:
    return request.app.state.rpc


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_redis(request: Request) -> Redis:
    return request.app.state.redis


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
Rpc = Annotated[RpcClient, Depends(get_rpc)]
DatabaseDep = Annotated[Database, Depends(get_database)]
RedisDep = Annotated[Redis, Depends(get_redis)]
# scope="function": commit before the response is sent, so a client never reads stale data
Db = Annotated[Session, Depends(get_db, scope="function")]


async def identity_from_token(request: Request, token: str | None) -> Identity:
    if not token:
        raise Unauthorized("not_authenticated", "A bearer token is required")
    settings: Settings = request.app.state.settings
    user_id = decode_access_token(token, settings.jwt_secret.get_secret_value())
    principals: PrincipalCache = request.app.state.principals
    identity = await principals.get(user_id)
    if identity is None:
        raise Unauthorized("invalid_token", "The user of this token is unknown or inactive")
    return identity


async def get_current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Identity:
    return await identity_from_token(request, token)


CurrentUser = Annotated[Identity, Depends(get_current_user)]


async def get_current_principal(user: CurrentUser) -> dict[str, Any]:
    return user.principal


CurrentPrincipal = Annotated[dict[str, Any], Depends(get_current_principal)]


async def get_stream_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    access_token: Annotated[str | None, Query(
        description="the bearer token, for EventSource clients that cannot send headers")
    ] = None,
) -> Identity:
    return await identity_from_token(request, token or access_token)


StreamUser = Annotated[Identity, Depends(get_stream_user)]


def requires(permission: str) -> Any:
    """``dependencies=[requires("leads.assign")]``: 403 unless the role may do it."""

    async def check_permission(user: CurrentUser) -> Identity:
        if not allowed(user.role, permission):
            raise Forbidden("forbidden", f"The {user.role} role may not do this",
                            {"permission": permission})
        return user

    return Depends(check_permission)
