"""Native asyncio RPC client speaking Nameko 2's AMQP RPC protocol (see docs/rpc.md).

One robust connection, one channel with publisher confirms, one exclusive auto-delete reply
queue bound to the ``nameko-rpc`` exchange under a random routing key. Each call publishes
``{"args": [], "kwargs": {...}}`` with a fresh ``correlation_id`` and waits on a future kept
in a dict keyed by that id, so any number of calls are in flight on the one connection and
the event loop never blocks.

Failures map to the typed errors of ``crmkit.errors``:

- broker not connected, or connection lost while waiting  -> ``ServiceUnavailable`` (503)
- the request is returned (``mandatory``: no queue for ``<service>.*``) -> ``ServiceUnavailable``
- the queue ``rpc-<service>`` exists but no replica consumes it -> ``ServiceUnavailable``
- no reply within the timeout                              -> ``ServiceTimeout`` (504)
- the service raised                                       -> ``crmkit.errors.from_remote(error)``

A stopped Nameko service leaves its durable queue behind, so ``mandatory`` alone would let a
request to a service that is down wait for the full timeout. The client therefore probes
the queue's consumer count (a passive ``queue.declare``): before publishing when it has not
seen consumers in the last ``CONSUMERS_SEEN_TTL`` seconds (so a down service answers 503 at
once and no request is left queued), and again every ``probe_after`` seconds while a reply
is awaited (a service that died meanwhile answers 503 within about that time).

Usage::

    rpc = RpcClient("amqp://guest:guest@127.0.0.1:5672/", timeout=10)
    await rpc.start()                       # connects in the background
    lead = await rpc.call("leads", "get_lead", principal=principal, lead_id="0190...")
    await rpc.close()
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from decimal import Decimal
from time import monotonic, perf_counter
from typing import Any

import aio_pika
from aiormq.exceptions import ChannelNotFoundEntity, PublishError

from crmkit.errors import DomainError, ServiceTimeout, ServiceUnavailable, from_remote
from crmkit.logging import correlation_id
from gateway.broker import robust_connection, set_up_channel, wait_for
from gateway.metrics import RPC_ERRORS, RPC_IN_FLIGHT, RPC_LATENCY

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
RPC_QUEUE_TEMPLATE = "rpc-{}"   # Nameko's queue of a service's RPC entrypoints
CONSUMERS_SEEN_TTL = 2.0        # seconds a probe that saw consumers is trusted


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_request(kwargs: dict[str, Any]) -> bytes:
    """The body of a Nameko RPC request: always keyword arguments."""
    return json.dumps({"args": [], "kwargs": kwargs}, default=_json_default,
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RpcClient:
    """Asyncio Nameko RPC client; one instance per process, shared by every request."""

    def __init__(
        self,
        amqp_uri: str,
        *,
        timeout: float = 10.0,
        exchange: str = "nameko-rpc",
        reconnect_seconds: float = 2.0,
        name: str = "gateway",
        probe_after: float = 1.0,
    ) -> None:
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self.probe_after = probe_after
        self.exchange_name = exchange
        self.reconnect_seconds = reconnect_seconds
        self.name = name
        self.reply_routing_key = str(uuid.uuid4())
        self.reply_queue_name = f"rpc.reply-{name}-{self.reply_routing_key}"
        self._pending: dict[str, asyncio.Future[dict]] = {}
        self._connection: aio_pika.RobustConnection | None = None
        self._channel: aio_pika.abc.AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._probe_channel: aio_pika.abc.AbstractRobustChannel | None = None
        self._probes: dict[str, asyncio.Task[bool | None]] = {}
        self.consumers_seen: dict[str, float] = {}  # service -> when a probe last saw some
        self._ready = asyncio.Event()
        self._starter: asyncio.Task | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting in the background (retrying until the broker answers)."""
        if self._starter is not None:
            return
        self._connection = robust_connection(
            self.amqp_uri, name=f"{self.name}-rpc", reconnect_seconds=self.reconnect_seconds)
        self._connection.close_callbacks.add(self._on_connection_lost)
        self._starter = asyncio.create_task(self._setup(), name="rpc-client-setup")

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the reply queue is consuming; False if not within ``timeout`` seconds."""
        return await wait_for(self._ready, timeout)

    async def connect(self, timeout: float | None = None) -> None:
        """``start`` and wait for the connection; ``ServiceUnavailable`` if it does not come."""
        await self.start()
        if not await self.wait_ready(timeout):
            raise ServiceUnavailable("service_unavailable", "The message broker is not reachable")

    async def close(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
            self._starter = None
        self._ready.clear()
        for task in list(self._probes.values()):
            task.cancel()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self._channel = self._exchange = self._probe_channel = None
        self._fail_pending("The RPC client was closed")

    async def __aenter__(self) -> RpcClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """True while the connection, the channel and the reply consumer are up."""
        conn, channel = self._connection, self._channel
        return (self._ready.is_set() and conn is not None and not conn.is_closed
                and conn.connected.is_set() and channel is not None and not channel.is_closed)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def _setup(self) -> None:
        assert self._connection is not None
        connection = self._connection

        async def consume_replies(channel) -> tuple[Any, Any]:
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(
                self.reply_queue_name, exclusive=True, auto_delete=True)
            await queue.bind(exchange, routing_key=self.reply_routing_key)
            await queue.consume(self._on_reply, no_ack=True)
            return exchange, await connection.channel(publisher_confirms=False)

        self._channel, (self._exchange, self._probe_channel) = await set_up_channel(
            connection, "RPC client", self.reconnect_seconds, consume_replies,
            publisher_confirms=True, on_return_raises=True)
        self._ready.set()
        log.info("RPC client ready, reply queue %s", self.reply_queue_name)

    def _on_connection_lost(self, _connection: Any, exc: BaseException | None = None) -> None:
        if self._pending:
            log.warning("Broker connection lost with %d RPC calls in flight", len(self._pending))
        self._fail_pending("The connection to the message broker was lost")

    def _fail_pending(self, message: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ServiceUnavailable("service_unavailable", message))

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is None or future.done():
            log.debug("Dropping a late or unknown RPC reply %s", message.correlation_id)
            return
        try:
            body = json.loads(message.body)
            if not isinstance(body, dict):
                raise ValueError("reply body is not an object")
        except ValueError as exc:
            log.error("Malformed RPC reply %s: %s", message.correlation_id, exc)
            error = DomainError("internal_error", "A service sent a malformed reply")
            error.status = 500
            future.set_exception(error)
            return
        future.set_result(body)

    # -- calls ---------------------------------------------------------------------------

    async def call(
        self,
        service: str,
        method: str,
        *,
        principal: dict | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``service.method(**kwargs)`` and return its result.

        ``principal`` (the caller, docs/rpc.md) travels as the ``nameko.principal`` header;
        ``None`` means a system call. ``timeout`` overrides the client's default for this call.
        ``principal`` and ``timeout`` are therefore not available as service kwargs.
        """
        started = perf_counter()
        code: str | None = None
        try:
            return await self._call(service, method, principal, timeout, kwargs)
        except DomainError as exc:
            code = exc.code
            raise
        except asyncio.CancelledError:
            code = "cancelled"
            raise
        except Exception:
            code = "internal_error"
            raise
        finally:
            RPC_LATENCY.labels(service, method).observe(perf_counter() - started)
            if code is not None:
                RPC_ERRORS.labels(service, method, code).inc()

    async def _call(self, service: str, method: str, principal: dict | None,
                    timeout: float | None, kwargs: dict[str, Any]) -> Any:
        timeout = self.timeout if timeout is None else timeout
        exchange = self._exchange
        if not self.connected or exchange is None:
            raise ServiceUnavailable("service_unavailable", "The message broker is not reachable",
                                     {"service": service})
        call_id = str(uuid.uuid4())
        headers: dict[str, Any] = {
            "nameko.correlation_id": correlation_id.get() or call_id,
            "nameko.call_id_stack": [f"{self.name}.{uuid.uuid4()}"],
        }
        if principal is not None:
            headers["nameko.principal"] = json.dumps(principal, default=_json_default,
                                                     ensure_ascii=False)
        message = aio_pika.Message(
            body=encode_request(kwargs),
            content_type=CONTENT_TYPE,
            content_encoding="utf-8",
            correlation_id=call_id,
            reply_to=self.reply_routing_key,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
            expiration=timeout,  # a request nobody took in time is dropped, not run late
        )
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        RPC_IN_FLIGHT.inc()
        try:
            async with asyncio.timeout(timeout):
                seen = self.consumers_seen.get(service)
                if seen is None or monotonic() - seen > CONSUMERS_SEEN_TTL:
                    if await self._has_consumers(service) is False:
                        raise _no_replica(service)
                try:
                    await exchange.publish(message, routing_key=f"{service}.{method}",
                                           mandatory=True)
                except PublishError:
                    raise _no_replica(service) from None
                except (DomainError, asyncio.CancelledError, TimeoutError):
                    raise
                except Exception as exc:
                    raise ServiceUnavailable(
                        "service_unavailable", "The message broker did not take the request",
                        {"service": service}) from exc
                while True:
                    try:
                        reply = await asyncio.wait_for(asyncio.shield(future), self.probe_after)
                        break
                    except TimeoutError:
                        if await self._has_consumers(service) is False:
                            raise _no_replica(service) from None
        except TimeoutError:
            raise ServiceTimeout(
                "service_timeout", f"Service {service!r} did not answer within {timeout:g} s",
                {"service": service, "method": method, "timeout": timeout}) from None
        finally:
            self._pending.pop(call_id, None)
            RPC_IN_FLIGHT.dec()

        error = reply.get("error")
        if error:
            exc = from_remote(error)
            if exc.status >= 500 and exc.code == "internal_error":
                log.error("RPC %s.%s failed with %s: %s", service, method,
                          error.get("exc_path"), error.get("value"))
            raise exc
        return reply.get("result")

    async def _has_consumers(self, service: str) -> bool | None:
        """Does any replica consume ``rpc-<service>``? None when the probe itself failed.

        Concurrent callers share one probe per service.
        """
        task = self._probes.get(service)
        if task is None:
            task = asyncio.create_task(self._probe(service), name=f"rpc-probe-{service}")
            self._probes[service] = task
            task.add_done_callback(lambda _: self._probes.pop(service, None))
        return await asyncio.shield(task)

    async def _probe(self, service: str) -> bool | None:
        channel = self._probe_channel
        if channel is None:
            return None
        try:
            async with asyncio.timeout(1.0):
                underlay = await channel.get_underlay_channel()
                declared = await underlay.queue_declare(RPC_QUEUE_TEMPLATE.format(service),
                                                        passive=True)
        except ChannelNotFoundEntity:  # no queue at all (the channel reopens by itself)
            return False
        except Exception as exc:  # noqa: BLE001 - unknown: let the call go on and time out
            log.debug("RPC consumer probe of %s failed: %r", service, exc)
            return None
        present = (declared.consumer_count or 0) > 0
        if present:
            self.consumers_seen[service] = monotonic()
        else:
            self.consumers_seen.pop(service, None)
        return present

    async def ping(self, service: str, timeout: float = 2.0) -> Any:
        """The service's ``ping`` answer (``{"service": name, "ok": true}``)."""
        return await self.call(service, "ping", timeout=timeout)


def _no_replica(service: str) -> ServiceUnavailable:
    return ServiceUnavailable("service_unavailable", f"Service {service!r} is not running",
                              {"service": service})
