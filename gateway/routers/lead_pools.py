"""Public-pool rules (公海规则), per named pool; pool "default" always exists."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API
from gateway.schemas.common import Items
from gateway.schemas.leads import LeadPublic, PoolRules, PoolRulesPreview, PoolRulesPublic

router = APIRouter(prefix=f"{API}/lead-pools", tags=["lead pools"], responses=ERROR_RESPONSES)
Pool = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["default"])]


@router.get("/{pool}/rules", response_model=PoolRulesPublic, summary="Get a pool's rules",
            dependencies=[requires("lead_pools.read")])
async def get_pool_rules(pool: Pool, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("leads", "get_pool_rules", principal=user.principal, pool=pool)


@router.put("/{pool}/rules", response_model=PoolRulesPublic, summary="Set a pool's rules",
            dependencies=[requires("lead_pools.manage")])
async def set_pool_rules(pool: Pool, body: PoolRules, user: CurrentUser, rpc: Rpc) -> Any:
    """Administrators. Replaces the pool's rules (creating the pool if new); fields left out
    take their defaults."""
    return await rpc.call("leads", "set_pool_rules", principal=user.principal, pool=pool,
                          rules=body.model_dump(mode="json", exclude_unset=True))


@router.post("/{pool}/rules/preview", response_model=Items[LeadPublic],
             summary="Preview a pool's rules (dry run)",
             dependencies=[requires("lead_pools.manage")])
async def preview_pool_rules(pool: Pool, user: CurrentUser, rpc: Rpc,
                             body: Annotated[PoolRulesPreview | None, Body()] = None) -> Any:
    """The leads the rules would return to the pool if applied now; nothing changes. Send
    `rules` to try new rules before saving them, or nothing to preview the saved ones."""
    rules = body.rules.model_dump(mode="json", exclude_unset=True) if body and body.rules else None
    return await rpc.call("leads", "preview_pool_rules", principal=user.principal, pool=pool,
                          rules=rules)
