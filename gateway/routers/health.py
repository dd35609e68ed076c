"""Operations endpoints, outside /api/v1: liveness, readiness and Prometheus metrics."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crmkit.errors import DomainError
from gateway import metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict:
    """No dependency is checked: a failing broker must not get the process restarted."""
    return {"status": "ok"}


async def _check(coro: Any, timeout: float) -> dict:
    try:
        async with asyncio.timeout(timeout):
            await coro
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {timeout:g} s"}
    except DomainError as exc:
        return {"ok": False, "error": exc.code}
    except Exception as exc:  # noqa: BLE001 - a check reports any failure
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


async def _broker_check(request: Request) -> None:
    if not request.app.state.rpc.connected:
        raise ConnectionError("broker connection is down")


@router.get("/readyz", summary="Readiness: broker, Redis and every service answer",
            responses={503: {"description": "at least one check failed"}})
async def readyz(request: Request) -> JSONResponse:
    """200 only when the broker connection is up, Redis answers PING and every service
    answers the RPC `ping` within the ready timeout (2 s); each check is listed."""
    state = request.app.state
    timeout = state.settings.ready_timeout
    names = ["broker", "redis", *state.settings.rpc_services]
    results = await asyncio.gather(
        _check(_broker_check(request), timeout),
        _check(state.redis.ping(), timeout),
        *(_check(state.rpc.ping(service, timeout=timeout), timeout)
          for service in state.settings.rpc_services),
    )
    checks = dict(zip(names, results, strict=True))
    ok = all(result["ok"] for result in results)
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
