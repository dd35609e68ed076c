"""gateway.coalesce: concurrent requests share one RPC, each keeps its own answer (no I/O)."""
from __future__ import annotations

import asyncio

import pytest
from nameko.exceptions import serialize

from crmkit.errors import Conflict, ServiceUnavailable
from gateway.coalesce import Coalescer


class Service:
    """Answers ``create_leads`` calls when the test releases them; records each call."""

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []
        self.release = asyncio.Event()
        self.answer = None

    async def call(self, service, method, *, timeout=None, items):
        assert (service, method) == ("leads", "create_leads")
        self.calls.append(items)
        await self.release.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:
            return self.answer
        return [{"error": serialize(Conflict("duplicate_lead", "dup", {"existing_id": "L0"}))}
                if item["data"]["name"] == "dup" else {"result": {"name": item["data"]["name"]}}
                for item in items]


def run(coro):
    return asyncio.run(coro)


def test_alone_a_request_goes_at_once_then_the_queue_goes_in_one_call():
    async def scenario():
        service = Service()
        coalescer = Coalescer(lambda: service, "leads", "create_leads", max_in_flight=1)
        first = asyncio.create_task(coalescer.submit({"user_id": "u1"}, {"name": "a"}))
        await asyncio.sleep(0.01)
        assert [[i["data"]["name"] for i in c] for c in service.calls] == [["a"]]
        rest = [asyncio.create_task(coalescer.submit({"user_id": f"u{n}"}, {"name": name}))
                for n, name in enumerate(("b", "dup", "c"), start=2)]
        await asyncio.sleep(0.01)
        assert len(service.calls) == 1                  # waiting for the free slot
        service.release.set()
        assert await first == {"name": "a"}
        assert await rest[0] == {"name": "b"} and await rest[2] == {"name": "c"}
        with pytest.raises(Conflict) as caught:
            await rest[1]
        assert caught.value.details == {"existing_id": "L0"} and caught.value.status == 409
        assert [[i["data"]["name"] for i in c] for c in service.calls] == [["a"],
                                                                           ["b", "dup", "c"]]
        assert [i["principal"]["user_id"] for i in service.calls[1]] == ["u2", "u3", "u4"]

    run(scenario())


def test_batches_are_capped_and_calls_run_side_by_side():
    async def scenario():
        service = Service()
        coalescer = Coalescer(lambda: service, "leads", "create_leads", max_batch=3,
                              max_in_flight=2)
        tasks = [asyncio.create_task(coalescer.submit({"user_id": "u"}, {"name": str(n)}))
                 for n in range(10)]
        await asyncio.sleep(0.01)
        assert [len(c) for c in service.calls] == [1, 1]   # each of the first two alone
        service.release.set()
        assert [await t for t in tasks] == [{"name": str(n)} for n in range(10)]
        assert sorted(len(c) for c in service.calls[2:]) == [2, 3, 3]
        assert [i["data"]["name"] for c in service.calls for i in c] == [str(n) for n in
                                                                          range(10)]

    run(scenario())


@pytest.mark.parametrize(("answer", "status"), [
    (ServiceUnavailable("service_unavailable", "leads is down"), 503),
    ([{"result": {}}], 500),                  # one answer for two requests
    (RuntimeError("boom"), 500),
])
def test_a_failed_call_fails_each_of_its_requests(answer, status):
    async def scenario():
        service = Service()
        service.answer = answer
        coalescer = Coalescer(lambda: service, "leads", "create_leads", max_in_flight=1)
        blocker = asyncio.create_task(coalescer.submit({"user_id": "u"}, {"name": "x"}))
        await asyncio.sleep(0)
        pair = [asyncio.create_task(coalescer.submit({"user_id": "u"}, {"name": n}))
                for n in "yz"]
        await asyncio.sleep(0)
        service.release.set()
        for task in (*pair,) if status != 503 else (blocker, *pair):
            with pytest.raises(Exception) as caught:
                await task
            assert caught.value.status == status
        await asyncio.gather(blocker, return_exceptions=True)

    run(scenario())
