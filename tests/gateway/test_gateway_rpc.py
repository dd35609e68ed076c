"""The asyncio RPC client against a real Nameko service on the real broker."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from crmkit.errors import Conflict, ServiceTimeout, ServiceUnavailable
from crmkit.logging import correlation_id
from gateway.rpc import RpcClient

pytestmark = pytest.mark.anyio

PRINCIPAL = {"user_id": "u1", "username": "zhangwei", "role": "sales", "team_id": "t1",
             "data_scope": "own", "visible_user_ids": ["u1"]}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_round_trip_carries_kwargs_principal_and_context(echo_service):
    async with RpcClient(echo_service, timeout=5) as rpc:
        token = correlation_id.set("req-42")
        try:
            answer = await rpc.call("echo", "echo", principal=PRINCIPAL, name="李娜",
                                    amount=Decimal("12800.00"), day=dt.date(2025, 3, 1),
                                    tags=["华东"])
        finally:
            correlation_id.reset(token)
    assert answer["kwargs"] == {"name": "李娜", "amount": "12800.00", "day": "2025-03-01",
                                "tags": ["华东"]}
    context = answer["context"]
    assert isinstance(context["principal"], str)                 # a JSON *string* header
    assert json.loads(context["principal"]) == PRINCIPAL
    assert context["correlation_id"] == "req-42"
    assert context["call_id_stack"][0].startswith("gateway.")


async def test_system_calls_carry_no_principal(echo_service):
    async with RpcClient(echo_service, timeout=5) as rpc:
        answer = await rpc.call("echo", "echo")
    assert "principal" not in answer["context"]
    assert answer["context"]["correlation_id"]                   # always one


async def test_one_hundred_concurrent_calls_all_answered(echo_service):
    async with RpcClient(echo_service, timeout=10) as rpc:
        started = time.monotonic()
        answers = await asyncio.gather(*(rpc.call("echo", "echo", i=i) for i in range(100)))
        elapsed = time.monotonic() - started
        assert rpc.in_flight == 0
    assert [a["kwargs"]["i"] for a in answers] == list(range(100))
    assert elapsed < 5


async def test_typed_errors_come_back_typed(echo_service):
    before = sample("gateway_rpc_errors_total", service="echo", method="fail", code="x")
    async with RpcClient(echo_service, timeout=5) as rpc:
        with pytest.raises(Conflict) as caught:
            await rpc.call("echo", "fail")
    error = caught.value
    assert (error.status, error.code, error.message) == (409, "x", "y")
    # Nameko makes non-string scalars in exception args safe by str() on the way
    assert error.details in ({"a": 1}, {"a": "1"})
    assert sample("gateway_rpc_errors_total", service="echo", method="fail",
                  code="x") == before + 1


async def test_a_slow_service_times_out_and_the_client_goes_on(echo_service):
    async with RpcClient(echo_service, timeout=5) as rpc:
        started = time.monotonic()
        with pytest.raises(ServiceTimeout) as caught:
            await rpc.call("echo", "slow", seconds=1.5, timeout=0.5)
        assert 0.5 <= time.monotonic() - started < 1.2
        assert caught.value.status == 504 and caught.value.code == "service_timeout"
        assert rpc.in_flight == 0
        await asyncio.sleep(1.2)                  # the late reply arrives and is dropped
        assert (await rpc.call("echo", "slow", seconds=0.1)) == {"slept": 0.1}


async def test_unknown_service_is_unavailable_at_once(echo_service):
    async with RpcClient(echo_service, timeout=10) as rpc:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            await rpc.call("no_such_service", "anything")
        assert time.monotonic() - started < 2
    assert caught.value.status == 503 and caught.value.code == "service_unavailable"


async def declare_orphan_rpc_queue(rpc: RpcClient, service: str) -> None:
    """What a stopped Nameko service leaves behind: its durable queue, with no consumer."""
    channel = await rpc._connection.channel()
    exchange = await channel.declare_exchange("nameko-rpc", "topic", durable=True)
    queue = await channel.declare_queue(f"rpc-{service}", durable=True)
    await queue.bind(exchange, routing_key=f"{service}.*")
    await channel.close()


async def test_a_stopped_service_is_unavailable_at_once(echo_service):
    async with RpcClient(echo_service, timeout=10) as rpc:
        await declare_orphan_rpc_queue(rpc, "stopped")
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await rpc.call("stopped", "anything")
        assert time.monotonic() - started < 1


async def test_a_service_that_stops_while_called_is_unavailable_soon(echo_service):
    async with RpcClient(echo_service, timeout=10, probe_after=0.3) as rpc:
        await declare_orphan_rpc_queue(rpc, "vanished")
        rpc.consumers_seen["vanished"] = time.monotonic()   # it had replicas a moment ago
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await rpc.call("vanished", "anything")
        assert 0.3 <= time.monotonic() - started < 1.5


async def test_a_slow_but_running_service_is_probed_and_awaited(echo_service):
    async with RpcClient(echo_service, timeout=5, probe_after=0.2) as rpc:
        assert await rpc.call("echo", "slow", seconds=0.7) == {"slept": 0.7}


async def test_broker_down_is_unavailable():
    rpc = RpcClient("amqp://guest:guest@127.0.0.1:1/", timeout=5, reconnect_seconds=0.2)
    await rpc.start()
    try:
        assert not await rpc.wait_ready(0.3)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await rpc.call("echo", "echo")
        assert time.monotonic() - started < 0.5
    finally:
        await rpc.close()


async def test_latency_histogram_by_service_and_method(echo_service):
    before = sample("gateway_rpc_duration_seconds_count", service="echo", method="ping")
    async with RpcClient(echo_service, timeout=5) as rpc:
        assert await rpc.ping("echo") == {"service": "echo", "ok": True}
    assert sample("gateway_rpc_duration_seconds_count", service="echo",
                  method="ping") == before + 1
