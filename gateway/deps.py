"""Shared dependencies of the routers, as ``Annotated`` aliases.

=====================  ======================================================================
``CurrentUser``        the authenticated ``Identity`` (401 without a valid bearer token or
                       API key); on POST/PUT/PATCH/DELETE it excludes the users seen only
                       through read-only grants (``Identity.for_write``)
``CurrentPrincipal``   its principal dict, passed to every RPC call (docs/rpc.md)
``StreamUser``         like ``CurrentUser``, also accepting ``?access_token=`` (EventSource)
``Rpc``                the process-wide ``RpcClient``
``Db``                 a SQLAlchemy session (sync routes only; committed after the route)
``DatabaseDep``        the ``Database``, for ``run_in_threadpool(database.run, fn, ...)``
``SettingsDep``        the ``Settings``
``Views``              the 360° view cache (``gateway.views``): ``await views.changed(id)``
                       after a write that can change a customer's view
``requires(perm)``     route dependency: 403 unless the user's role has the permission
=====================  ======================================================================
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from time import monotonic
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from redis.asyncio import Redis
from sqlalchemy.orm import Session

from crmkit.errors import Forbidden, Unauthorized
from gateway import apikeys
from gateway.db import Database
from gateway.identity import Identity, PrincipalCache
from gateway.permissions import allowed
from gateway.rpc import RpcClient
from gateway.security import decode_access_token
from gateway.settings import Settings
from gateway.views import ViewCache

TOKEN_URL = "/api/v1/auth/token"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="an integration's API key (`crm_...`)")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger(__name__)


# Trivial accessors are ``async``: FastAPI runs a plain ``def`` dependency in its thread pool,
# a thread hand-off per request for a dictionary lookup.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_rpc(request: Request) -> RpcClient:
    return request.app.state.rpc


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_redis(request: Request) -> Redis:
    return request.app.state.redis


async def get_views(request: Request) -> ViewCache:
    return request.app.state.views


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
Rpc = Annotated[RpcClient, Depends(get_rpc)]
DatabaseDep = Annotated[Database, Depends(get_database)]
RedisDep = Annotated[Redis, Depends(get_redis)]
Views = Annotated[ViewCache, Depends(get_views)]
# scope="function": commit before the response is sent, so a client never reads stale data
Db = Annotated[Session, Depends(get_db, scope="function")]


class ApiKeyCache:
    """Verified keys by hash for a few seconds (revocation reaches other replicas after it)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, str | None, str | None]] = {}

    def get(self, key_hash: str) -> tuple[str | None, str | None] | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] <= monotonic():
            return None
        return entry[1], entry[2]

    def put(self, key_hash: str, key_id: str | None, user_id: str | None) -> None:
        if len(self._entries) >= 10_000:
            now = monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        if self.ttl > 0:
            self._entries[key_hash] = (monotonic() + self.ttl, key_id, user_id)

    def clear(self) -> None:
        self._entries.clear()


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def identity_from_api_key(request: Request, key: str) -> Identity:
    state = request.app.state
    settings: Settings = state.settings
    cache: ApiKeyCache | None = getattr(state, "api_key_cache", None)
    if cache is None:
        cache = state.api_key_cache = ApiKeyCache(settings.principal_cache_seconds)
    key_hash = apikeys.hash_secret(key)
    cached = cache.get(key_hash)
    if cached is None:
        row = await run_in_threadpool(state.database.run, apikeys.verify_key, key)
        cached = (row.id, row.user_id) if row else (None, None)
        cache.put(key_hash, *cached)
    key_id, user_id = cached
    if key_id is None or user_id is None:
        raise Unauthorized("invalid_api_key", "The API key is unknown or revoked")
    principals: PrincipalCache = state.principals
    identity = await principals.get(user_id)
    if identity is None:
        raise Unauthorized("invalid_api_key", "The user of this API key is inactive")
    await _note_key_use(request, key_id, user_id)
    return identity.with_api_key(key_id)


async def _note_key_use(request: Request, key_id: str, user_id: str) -> None:
    """``last_used_at`` + audit, at most once per key per ``api_key_touch_seconds``."""
    state = request.app.state
    try:
        first = await state.redis.set(f"crm:apikey:touch:{key_id}", "1", nx=True,
                                      ex=state.settings.api_key_touch_seconds)
    except Exception:  # noqa: BLE001 - Redis down: record the use anyway
        log.warning("Redis unavailable; recording the API key use without de-duplication")
        first = True
    if first:
        await run_in_threadpool(state.database.run, apikeys.touch, key_id, user_id,
                                _client_ip(request))


async def identity_from_token(request: Request, token: str | None) -> Identity:
    if not token:
        raise Unauthorized("not_authenticated", "A bearer token or an API key is required")
    if apikeys.looks_like_key(token):
        return await identity_from_api_key(request, token)
    settings: Settings = request.app.state.settings
    user_id = decode_access_token(token, settings.jwt_secret.get_secret_value())
    principals: PrincipalCache = request.app.state.principals
    identity = await principals.get(user_id)
    if identity is None:
        raise Unauthorized("invalid_token", "The user of this token is unknown or inactive")
    return identity


async def get_current_user(request: Request) -> Identity:
    """The caller, from ``Authorization: Bearer`` or else ``X-API-Key``.

    The two schemes are read here rather than declared as sub-dependencies: FastAPI
    resolves each dependency of each request anew (its cache key, its kind, its own
    parameters), ≈ 10–20 µs apiece, and every authenticated route paid for two more.
    ``document_security`` puts them back into the OpenAPI description."""
    token = await oauth2_scheme(request) or await api_key_scheme(request)
    identity = await identity_from_token(request, token)
    return identity if request.method in SAFE_METHODS else identity.for_write()


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


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def document_security(app: FastAPI) -> None:
    """OpenAPI: every operation that resolves ``CurrentUser`` takes a bearer token or an API
    key (the two schemes ``get_current_user`` reads itself, invisible to FastAPI)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            for scheme in (oauth2_scheme, api_key_scheme):
                schemes[scheme.scheme_name] = jsonable_encoder(scheme.model, by_alias=True,
                                                               exclude_none=True)
            either = [{oauth2_scheme.scheme_name: []}, {api_key_scheme.scheme_name: []}]
            for route in iter_route_contexts(app.routes):
                if (isinstance(route.original_route, APIRoute) and route.include_in_schema
                        and get_current_user in _calls(route.dependant)):
                    for method in route.methods:
                        schema["paths"][route.path_format][method.lower()]["security"] = either
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def requires(permission: str) -> Any:
    """``dependencies=[requires("leads.assign")]``: 403 unless the role may do it."""

    async def check_permission(user: CurrentUser) -> Identity:
        if not allowed(user.role, permission):
            raise Forbidden("forbidden", f"The {user.role} role may not do this",
                            {"permission": permission})
        return user

    return Depends(check_permission)
