"""Public pools (公海) and their rules; pool "default" always exists and is everyone's."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Path

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Items
from gateway.schemas.leads import (
    LeadPublic,
    PoolCreate,
    PoolMembers,
    PoolPublic,
    PoolRules,
    PoolRulesPreview,
    PoolRulesPublic,
    ReturnJobResult,
)

router = ResourceRouter(prefix=f"{API}/lead-pools", tags=["lead pools"], responses=ERROR_RESPONSES)
Pool = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["default"])]
UserId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_model=Items[PoolPublic], summary="List pools",
            dependencies=[requires("lead_pools.read")])
async def list_pools(user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("leads", "list_pools", principal=user.principal)


@router.post("", status_code=201, response_model=PoolPublic, summary="Create a pool",
             responses=CONFLICT_RESPONSE, dependencies=[requires("lead_pools.manage")])
async def create_pool(body: PoolCreate, user: CurrentUser, rpc: Rpc) -> Any:
    """Administrators. Only members (and managers/admins) see and work a named pool's leads;
    the pool starts with the default rules. An existing name: 409 `pool_exists`."""
    return await rpc.call("leads", "create_pool", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("/{pool}", response_model=PoolPublic, summary="Get a pool",
            dependencies=[requires("lead_pools.read")])
async def get_pool(pool: Pool, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("leads", "get_pool", principal=user.principal, pool=pool)


@router.post("/{pool}/members", response_model=PoolPublic, summary="Add pool members",
             dependencies=[requires("lead_pools.manage")])
async def add_members(pool: Pool, body: PoolMembers, user: CurrentUser, rpc: Rpc) -> Any:
    """Administrators; ids already members are ignored. `default` has no list: 409."""
    return await rpc.call("leads", "change_pool_members", principal=user.principal, pool=pool,
                          add=body.user_ids)


@router.delete("/{pool}/members/{user_id}", response_model=PoolPublic,
               summary="Remove a pool member", dependencies=[requires("lead_pools.manage")])
async def remove_member(pool: Pool, user_id: UserId, user: CurrentUser, rpc: Rpc) -> Any:
    """Leads the user owns stay theirs; they no longer see or claim the pool's free leads."""
    return await rpc.call("leads", "change_pool_members", principal=user.principal, pool=pool,
                          remove=[user_id])


@router.get("/{pool}/rules", response_model=PoolRulesPublic, summary="Get a pool's rules",
            dependencies=[requires("lead_pools.read")])
async def get_pool_rules(pool: Pool, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("leads", "get_pool_rules", principal=user.principal, pool=pool)


@router.put("/{pool}/rules", response_model=PoolRulesPublic, summary="Set a pool's rules",
            dependencies=[requires("lead_pools.manage")])
async def set_pool_rules(pool: Pool, body: PoolRules, user: CurrentUser, rpc: Rpc) -> Any:
    """Administrators. Replaces the pool's rules; fields left out take their defaults. The
    deadlines of the pool's owned leads are recomputed at once. Unknown pool: 404."""
    return await rpc.call("leads", "set_pool_rules", principal=user.principal, pool=pool,
                          rules=body.model_dump(mode="json", exclude_unset=True))


@router.post("/{pool}/rules/preview", response_model=Items[LeadPublic],
             summary="Preview a pool's rules (dry run)",
             dependencies=[requires("lead_pools.manage")])
async def preview_pool_rules(pool: Pool, user: CurrentUser, rpc: Rpc,
                             body: Annotated[PoolRulesPreview | None, Body()] = None) -> Any:
    """The leads the rules would return to the pool if applied now (with `reason`
    `overdue` | `not_converted` and the `deadline` passed); nothing changes. Send `rules` to
    try new rules before saving them, or nothing to preview the saved ones."""
    rules = body.rules.model_dump(mode="json", exclude_unset=True) if body and body.rules else None
    return await rpc.call("leads", "preview_pool_rules", principal=user.principal, pool=pool,
                          rules=rules)


@router.post("/{pool}/run-return-job", response_model=ReturnJobResult,
             summary="Run the return job now (operators)",
             dependencies=[requires("lead_pools.manage")])
async def run_return_job(pool: Pool, user: CurrentUser, rpc: Rpc) -> Any:
    """Administrators. Does now what the periodic job does: returns the pool's due leads
    (`lead.returned_to_pool`, the former owner is notified) and warns owners whose deadline
    is near (`lead.deadline_warning`)."""
    return await rpc.call("leads", "run_return_job", principal=user.principal, pool=pool,
                          timeout=120)
