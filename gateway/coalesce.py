"""Group commit for hot creates: concurrent requests of one kind share one RPC.

Under load most of a create's cost is not the row but the trip: the RPC request and reply
through RabbitMQ, the service worker, the transaction, the commit. ``Coalescer`` sends a
request at once when fewer than ``max_in_flight`` calls are out; otherwise it waits for the
next free slot, and everything that queued up meanwhile goes in that call (at most
``max_batch``). Nothing ever waits for a timer: alone, a request travels alone, as before;
at 64 connections, one RPC carries a dozen creates and the service writes them in one
transaction (``leads.create_leads``).

Each request keeps its own answer — its lead, or the domain error it alone would have got
(409 duplicate, 422, 404...) — and its own caller and correlation id, which the service puts
on the request's event. A call that fails as a whole (503 service down, 504 timeout) fails
each of its requests with that error, as the single call would have.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from crmkit.errors import DomainError, from_remote
from crmkit.logging import correlation_id
from gateway.metrics import COALESCED_BATCH

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(self, rpc: Callable[[], Any], service: str, method: str, *,
                 max_batch: int = 100, max_in_flight: int = 2,
                 timeout: float | None = None) -> None:
        self.rpc = rpc                  # the process's RPC client, looked up at each call
        self.service = service
        self.method = method
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self._queue: list[tuple[dict, asyncio.Future]] = []
        self._in_flight = 0

    async def submit(self, principal: dict, data: dict) -> Any:
        """The answer to this one request (its result, or its domain error raised)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append(({"principal": principal, "correlation_id": correlation_id.get(),
                             "data": data}, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._queue and self._in_flight < self.max_in_flight:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            self._in_flight += 1
            task = asyncio.create_task(self._send(batch), name=f"{self.method}-batch")
            task.add_done_callback(self._sent)

    def _sent(self, _task: asyncio.Task) -> None:
        self._in_flight -= 1
        self._dispatch()

    async def _send(self, batch: list[tuple[dict, asyncio.Future]]) -> None:
        COALESCED_BATCH.labels(self.service, self.method).observe(len(batch))
        try:
            answers = await self.rpc().call(self.service, self.method, timeout=self.timeout,
                                          items=[item for item, _ in batch])
            if not isinstance(answers, list) or len(answers) != len(batch):
                raise _malformed()
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure
            if not isinstance(exc, DomainError):
                log.exception("%s.%s batch failed", self.service, self.method)
                exc = _malformed()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():           # its request was cancelled (client went away)
                continue
            if isinstance(answer, dict) and answer.get("error"):
                future.set_exception(from_remote(answer["error"]))
            elif isinstance(answer, dict) and "result" in answer:
                future.set_result(answer["result"])
            else:
                future.set_exception(_malformed())


def _malformed() -> DomainError:
    error = DomainError("internal_error", "A service sent a malformed reply")
    error.status = 500
    return error
