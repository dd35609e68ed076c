"""Sales pipelines (自定义流程): named, ordered stages with win probabilities."""
from __future__ import annotations

from typing import Any

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Items
from gateway.schemas.sales import PipelineCreate, PipelinePublic

router = ResourceRouter(prefix=f"{API}/pipelines", tags=["pipelines"], responses=ERROR_RESPONSES)


@router.get("", response_model=Items[PipelinePublic], summary="List pipelines",
            dependencies=[requires("pipelines.read")])
async def list_pipelines(user: CurrentUser, rpc: Rpc) -> Any:
    """The default pipeline (初步接洽 10% → 需求确认 30% → 方案报价 50% → 谈判审核 70% →
    赢单 100% / 输单 0%) and every user-defined one."""
    return await rpc.call("sales", "list_pipelines", principal=user.principal)


@router.post("", status_code=201, response_model=PipelinePublic, summary="Create a pipeline",
             dependencies=[requires("pipelines.manage")])
async def create_pipeline(body: PipelineCreate, user: CurrentUser, rpc: Rpc) -> Any:
    """Stages in order, each with a win probability in percent (0–100); names unique."""
    return await rpc.call("sales", "create_pipeline", principal=user.principal,
                          data=body.model_dump(mode="json"))
