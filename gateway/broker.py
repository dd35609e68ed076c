"""RabbitMQ for the gateway: robust connections and the base of its background consumers.

``aio_pika.RobustConnection`` reconnects by itself and restores its channels, exchanges,
queues, bindings and consumers. ``fail_fast=0`` makes the *first* connection keep retrying
too, so the gateway starts (and answers ``/healthz``) while the broker is still coming up.

``QueueConsumer`` is what the notification inbox, the webhook deliveries and the 360° view
cache's invalidation share: a connection of its own, a set-up (declare, bind, consume) tried
again every ``AMQP_RECONNECT_SECONDS`` until the broker takes it, ``connected`` for the
readiness probe, and a clean ``close``. Each subclass names its queue and bindings
(``declare``) and handles a message (``on_message``).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from yarl import URL

from gateway.settings import Settings

T = TypeVar("T")

log = logging.getLogger(__name__)

#: the services' topic exchanges, where their outbox relays publish every event
EVENT_EXCHANGES = ("leads.events", "customers.events", "sales.events", "service_desk.events",
                   "analytics.events")


def robust_connection(
    uri: str, *, name: str, reconnect_seconds: float
) -> aio_pika.RobustConnection:
    """A robust connection object, not yet connected: ``await conn.connect()`` to use it."""
    return aio_pika.RobustConnection(
        URL(uri),
        fail_fast="0",
        reconnect_interval=str(reconnect_seconds),
        client_properties={"connection_name": name},
    )


def queue_arguments(settings: Settings, **extra: Any) -> dict[str, Any]:
    """A queue's arguments: ``extra`` and the queue type the deployment asked for."""
    args = dict(extra)
    if settings.amqp_queue_type == "quorum":
        args["x-queue-type"] = "quorum"
    return args


async def declare_exchanges(channel: AbstractRobustChannel, names: Iterable[str]
                            ) -> dict[str, aio_pika.abc.AbstractExchange]:
    """The services' event exchanges by name (declared as their relays declare them)."""
    return {name: await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC,
                                                 durable=True)
            for name in dict.fromkeys(names)}


async def set_up_channel(connection: aio_pika.abc.AbstractRobustConnection, what: str,
                         reconnect_seconds: float,
                         set_up: Callable[[AbstractRobustChannel], Awaitable[T]],
                         **channel_options: Any) -> tuple[AbstractRobustChannel, T]:
    """Connect, open a channel and run ``set_up(channel)``; on any failure close the
    channel, wait ``reconnect_seconds`` and start again, until it succeeds. Returns the
    channel and what ``set_up`` returned (the RPC client's and the queue consumers' set-up)."""
    while True:
        channel = None
        try:
            await connection.connect()
            channel = await connection.channel(**channel_options)
            return channel, await set_up(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - declaration refused, connection lost...
            log.warning("%s: setup failed, retrying: %s", what, exc)
            if channel is not None:
                await asyncio.gather(channel.close(), return_exceptions=True)
            await asyncio.sleep(reconnect_seconds)


async def wait_for(event: asyncio.Event, timeout: float | None = None) -> bool:
    """True once ``event`` is set; False if it is not within ``timeout`` seconds (readiness
    of the RPC client and of the queue consumers)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class QueueConsumer:
    """A consumer the gateway runs in the background of its lifespan (see module docstring).

    Subclasses set ``name`` (the connection's name and the logs'), ``prefetch`` and,
    when ``on_message`` publishes, ``publisher_confirms``; they implement ``declare``
    and ``on_message``, and may run more tasks beside the set-up (``background``)."""

    name = "gateway-consumer"
    prefetch = 32
    publisher_confirms = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: aio_pika.RobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    # -- what a subclass provides ------------------------------------------------------

    async def declare(self, channel: AbstractRobustChannel) -> AbstractQueue:
        """Declare the queue (and whatever it needs) and bind it; return it."""
        raise NotImplementedError

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        raise NotImplementedError

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Coroutines to run as long as the consumer runs, beside its set-up."""
        return []

    # -- life cycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        conn, channel = self._connection, self._channel
        return (self._ready.is_set() and conn is not None and conn.connected.is_set()
                and channel is not None and not channel.is_closed)

    async def start(self) -> None:
        if self._tasks:
            return
        self._connection = robust_connection(
            self.settings.amqp_uri, name=self.name,
            reconnect_seconds=self.settings.amqp_reconnect_seconds)
        self._tasks = [asyncio.create_task(self._setup(), name=f"{self.name}-setup"),
                       *(asyncio.create_task(work, name=f"{self.name}-{n}")
                         for n, work in enumerate(self.background()))]

    async def wait_ready(self, timeout: float | None = None) -> bool:
        return await wait_for(self._ready, timeout)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._ready.clear()
        self._channel = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _setup(self) -> None:
        """Declare and consume (``set_up_channel``: retried until it succeeds). Once
        consuming, the robust connection restores all of it after a broker restart."""
        assert self._connection is not None

        async def consume(channel: AbstractRobustChannel) -> AbstractQueue:
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await self.declare(channel)
            await queue.consume(self.on_message)
            return queue

        self._channel, queue = await set_up_channel(
            self._connection, self.name, self.settings.amqp_reconnect_seconds, consume,
            publisher_confirms=self.publisher_confirms)
        self._ready.set()
        log.info("%s: ready on queue %s", self.name, queue.name)
