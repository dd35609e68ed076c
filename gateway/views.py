"""The 360° view cache (客户全貌): whole ``GET /customers/{id}/overview`` answers in Redis.

A view is four RPCs and about 40 ms of CPU across five services; most reads of a customer
find nothing changed since the last one. The gateway therefore keeps each answer, per
customer and per *principal*, and serves it again until something that could change it
happens.

Keys (``{<customer id>}`` is a Redis Cluster hash tag: one customer's keys share a slot)::

    crm:view:{C}:gen                 the customer's generation (24 h TTL, refreshed by a bump)
    crm:view:{C}:<gen>:<principal>   one answer (VIEW_CACHE_TTL_SECONDS, default 60 s)

``<principal>`` is a hash of the whole principal the services decide by (user id, role,
team, data scope, ``visible_user_ids`` with every grant folded in, ``read_only_user_ids``)
and of ``VIEW_FORMAT``: two users share an entry only if every service would answer them
alike, and a change of role, team, scope or grant is a new key as soon as the principal is
(``PRINCIPAL_CACHE_SECONDS``). ``LOOKUP`` reads the generation and the entry in one round
trip. A generation is never reused: it is Redis' clock in microseconds (or the previous
value + 1), so an entry written before a bump, or before its generation key expired or was
evicted, is never found again.

Invalidation (*bump*: a new generation, so every entry of the customer is dead):

- write routes bump the customers they changed once the service answered (read your own
  writes, every gateway replica at once: Redis is shared);
- ``ViewEvents`` consumes ``VIEW_EVENTS`` on its own durable queue ``gateway.views`` and bumps
  each event's customer(s), and bumps them again ``VIEW_CACHE_SETTLE_SECONDS`` later: other
  consumers apply the same event on their own (analytics' profile, the customers service's
  status and value, sales re-pointing a merged customer's documents) and a view assembled in
  between must not outlive that;
- the TTL bounds whatever has no event (figures analytics derives on its timers, a quote
  expiring at midnight).

Only complete answers are kept: a 404/403 is never stored, nor a view with ``partial: true``.
Concurrent misses of one entry share one assembly (``assemble_once``). Redis failing or slow
(``VIEW_CACHE_REDIS_TIMEOUT``) never fails a view: it is computed, not stored, counted as
``bypass``; after a refused connection Redis is left alone for a second.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from time import monotonic
from typing import Any

import aio_pika
from aio_pika.abc import AbstractQueue, AbstractRobustChannel
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.broker import QueueConsumer, declare_exchanges, queue_arguments
from gateway.metrics import VIEW_CACHE_INVALIDATIONS, VIEW_CACHE_LOOKUPS
from gateway.notifications import MalformedEvent, parse_envelope
from gateway.settings import Settings

log = logging.getLogger(__name__)

#: bump when the shape of the view or who may see which section changes: old entries are
#: then never read by the new code, even while old and new replicas run side by side
VIEW_FORMAT = 1
GENERATION_TTL = 24 * 3600
#: after a Redis failure the cache is skipped (views computed) for this long
REDIS_BACKOFF_SECONDS = 1.0
#: ids that may appear in a key; anything else (no such customer exists) is not cached
CACHEABLE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# the three series exist (at 0) from the start, and a lookup does not resolve its labels
HIT, MISS, BYPASS = (VIEW_CACHE_LOOKUPS.labels(result) for result in ("hit", "miss", "bypass"))

# KEYS[1] generation key; ARGV[1] entry key prefix, ARGV[2] principal hash,
# ARGV[3] generation TTL. Returns {generation, entry or nil}.
LOOKUP = """
local gen = redis.call('GET', KEYS[1])
if not gen then
  local t = redis.call('TIME')
  gen = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
  redis.call('SET', KEYS[1], gen, 'EX', ARGV[3])
end
return {gen, redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[2])}
"""

# KEYS[1] generation key; ARGV[1] generation TTL. Returns the new generation.
BUMP = """
local t = redis.call('TIME')
local gen = tonumber(t[1]) * 1000000 + tonumber(t[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '')
if current and current >= gen then
  gen = current + 1
end
gen = string.format('%.0f', gen)
redis.call('SET', KEYS[1], gen, 'EX', ARGV[1])
return gen
"""


def principal_hash(principal: dict[str, Any]) -> str:
    """What the services and the gateway decide a view by, as 32 hex characters."""
    raw = json.dumps([VIEW_FORMAT, principal], sort_keys=True, separators=(",", ":"),
                     ensure_ascii=False, default=str)
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def generation_key(customer_id: str) -> str:
    return f"crm:view:{{{customer_id}}}:gen"


def entry_prefix(customer_id: str) -> str:
    return f"crm:view:{{{customer_id}}}:"


def encode(view: dict[str, Any]) -> bytes:
    """The view as the HTTP body, byte for byte what FastAPI's JSONResponse would send."""
    return json.dumps(view, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      ).encode("utf-8")


@dataclass
class Lookup:
    """The outcome of ``ViewCache.lookup``: ``body`` on a hit; what ``store`` needs on a miss."""

    result: str                      # hit | miss | bypass
    body: bytes | None = None
    entry_key: str | None = None


class ViewCache:
    """Lookups, stores and bumps; one per process (``app.state.views``)."""

    def __init__(self, redis: Redis, *, enabled: bool, ttl: int, timeout: float) -> None:
        self.redis = redis
        self.enabled = enabled
        self.ttl = ttl
        self.timeout = timeout
        self._lookup = redis.register_script(LOOKUP)
        self._bump = redis.register_script(BUMP)
        self._skip_until = 0.0
        self._logged_until = 0.0
        self._assembling: dict[str, asyncio.Task[bytes]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> ViewCache:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                               socket_timeout=max(settings.view_cache_redis_timeout, 1.0))
        return cls(redis, enabled=settings.view_cache_enabled,
                   ttl=settings.view_cache_ttl_seconds,
                   timeout=settings.view_cache_redis_timeout)

    async def close(self) -> None:
        await self.redis.aclose()

    def _failed(self, what: str, exc: BaseException) -> None:
        """Log (at most once a second); after a refused or broken connection, leave Redis
        alone for ``REDIS_BACKOFF_SECONDS``. A timeout does not: on a saturated event loop it
        measures the loop's lag as much as Redis, and skipping the cache then would turn
        every read into an assembled view just when the gateway can least afford it."""
        now = monotonic()
        if now >= self._logged_until:
            log.warning("View cache: Redis %s failed, that view is computed: %r", what, exc)
            self._logged_until = now + REDIS_BACKOFF_SECONDS
        if not isinstance(exc, (TimeoutError, RedisTimeoutError)):
            self._skip_until = now + REDIS_BACKOFF_SECONDS

    async def lookup(self, customer_id: str, principal: dict[str, Any]) -> Lookup:
        """The cached answer for this customer and principal, if there is a live one."""
        if (not self.enabled or monotonic() < self._skip_until
                or not CACHEABLE_ID.match(customer_id)):
            BYPASS.inc()
            return Lookup("bypass")
        prefix = entry_prefix(customer_id)
        digest = principal_hash(principal)
        try:
            async with asyncio.timeout(self.timeout):
                gen, body = await self._lookup(keys=[generation_key(customer_id)],
                                               args=[prefix, digest, GENERATION_TTL])
        except Exception as exc:  # noqa: BLE001 - Redis down or slow: compute the view
            self._failed("lookup", exc)
            BYPASS.inc()
            return Lookup("bypass")
        if body is not None:
            HIT.inc()
            return Lookup("hit", body=body)
        MISS.inc()
        return Lookup("miss", entry_key=f"{prefix}{gen.decode()}:{digest}")

    async def assemble_once(self, lookup: Lookup,
                            assemble: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
        """The view's body from ``assemble()``, kept unless partial. Concurrent misses of one
        entry (same customer, generation and principal: the same answer) share one assembly
        in this process, so a burst of reads after a change costs one view, not one each."""
        key = lookup.entry_key
        if key is None:
            return encode(await assemble())
        task = self._assembling.get(key)
        if task is None:
            task = asyncio.create_task(self._assemble_and_store(lookup, assemble))
            self._assembling[key] = task
            task.add_done_callback(lambda _: self._assembling.pop(key, None))
        return await asyncio.shield(task)

    async def _assemble_and_store(self, lookup: Lookup,
                                  assemble: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
        view = await assemble()
        body = encode(view)
        if not view.get("partial"):
            await self.store(lookup, body)
        return body

    async def store(self, lookup: Lookup, body: bytes) -> None:
        """Keep a complete answer under the generation its lookup read (a bump since then
        leaves it unreachable: it was assembled before the change, or during it)."""
        if lookup.entry_key is None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.set(lookup.entry_key, body, ex=self.ttl)
        except Exception as exc:  # noqa: BLE001 - not kept: the next read computes again
            self._failed("store", exc)

    async def bump(self, customer_ids: Iterable[str | None], source: str) -> None:
        """A new generation for each customer (raises when Redis does not answer)."""
        ids = sorted({str(c) for c in customer_ids if c and CACHEABLE_ID.match(str(c))})
        if not ids:
            return
        try:
            async with asyncio.timeout(self.timeout * 2):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for customer_id in ids:
                        await self._bump(keys=[generation_key(customer_id)],
                                         args=[GENERATION_TTL], client=pipe)
                    await pipe.execute()
        except Exception:
            VIEW_CACHE_INVALIDATIONS.labels(source, "failed").inc(len(ids))
            raise
        VIEW_CACHE_INVALIDATIONS.labels(source, "ok").inc(len(ids))

    async def changed(self, *customer_ids: str | None) -> None:
        """A write route changed these customers: bump them, never failing the request (the
        event the change also emitted bumps them again, after Redis is back)."""
        try:
            await self.bump(customer_ids, "route")
        except Exception as exc:  # noqa: BLE001 - see above
            self._failed("bump", exc)


# -- the events that change a view -----------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    exchange: str
    fields: tuple[str, ...] = ("customer_id",)   # fields of ``data`` naming customers


def _on(exchange: str, *types: str, fields: tuple[str, ...] = ("customer_id",)
        ) -> dict[str, Trigger]:
    return {event_type: Trigger(exchange, fields) for event_type in types}


#: every event type that can change a section of some customer's view, and where its
#: customer id is (docs/events.md). ``customer.created`` is absent: a customer that did not
#: exist had no view to forget. Lead events never change a customer's view.
VIEW_EVENTS: dict[str, Trigger] = {
    **_on("customers.events",
          "customer.updated", "customer.status_changed", "customer.level_changed",
          "customer.credit_limit_changed", "customer.contact_added",
          "customer.primary_contact_changed", "customer.followed_up", "customer.claimed",
          "customer.released", "customer.locked", "customer.unlocked",
          "customer.returned_to_pool", "follow_up_plan.created", "follow_up_plan.done",
          "follow_up_plan.cancelled", "follow_up_plan.due"),
    **_on("customers.events", "customer.merged", fields=("survivor_id", "merged_id")),
    **_on("sales.events",
          "opportunity.created", "opportunity.stage_changed", "opportunity.won",
          "opportunity.lost", "quote.created", "quote.sent", "quote.accepted",
          "quote.rejected", "contract.created", "contract.submitted",
          "contract.approval_requested", "contract.approved", "contract.rejected",
          "contract.signed", "contract.completed", "contract.cancelled",
          "receivable.planned", "receivable.overdue", "payment.received", "invoice.issued"),
    **_on("service_desk.events",
          "ticket.created", "ticket.assigned", "ticket.commented", "ticket.started",
          "ticket.waiting", "ticket.resumed", "ticket.resolved", "ticket.closed",
          "ticket.reopened", "ticket.rated", "ticket.sla_warning", "ticket.sla_breached",
          "return.requested", "return.approved", "return.rejected", "return.received",
          "return.refunded", "return.replaced", "return.closed",
          "work_order.scheduled", "work_order.started", "work_order.completed",
          "work_order.cancelled"),
    **_on("service_desk.events", "service_desk.customer_merged",
          fields=("survivor_id", "merged_id")),
    **_on("analytics.events", "customer.churn_risk", "customer.value_changed"),
}


def customers_of(envelope: dict[str, Any]) -> list[str]:
    """The customer ids an event names (none for a type that changes no view)."""
    trigger = VIEW_EVENTS.get(envelope["type"])
    if trigger is None:
        return []
    data = envelope.get("data") or {}
    return [str(data[f]) for f in trigger.fields if data.get(f)]


class ViewEvents(QueueConsumer):
    """Consumer of ``VIEW_EVENTS`` on ``VIEW_CACHE_QUEUE``: bumps each event's customers now
    and once more after ``VIEW_CACHE_SETTLE_SECONDS``. It runs even with the cache disabled,
    so that replicas which have it on (or this one, once it is on again) never keep a view
    older than a change. A bump Redis refuses is retried (the message is requeued)."""

    RETRY_PAUSE = 1.0
    name = "gateway-views"
    prefetch = 64

    def __init__(self, settings: Settings, cache: ViewCache) -> None:
        super().__init__(settings)
        self.cache = cache
        self._settle: dict[str, float] = {}   # customer id -> when to bump it again

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._settle_loop()]

    async def declare(self, channel: AbstractRobustChannel) -> AbstractQueue:
        s = self.settings
        queue = await channel.declare_queue(s.view_cache_queue, durable=True,
                                            arguments=queue_arguments(s))
        exchanges = await declare_exchanges(channel, (t.exchange for t in VIEW_EVENTS.values()))
        for event_type, trigger in VIEW_EVENTS.items():
            await queue.bind(exchanges[trigger.exchange], routing_key=event_type)
        return queue

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            ids = customers_of(parse_envelope(message.body))
        except MalformedEvent as exc:
            log.error("View cache: dropping a malformed event (routing key %s): %s",
                      message.routing_key, exc)
            await message.ack()        # nothing to bump; the other consumers dead-letter it
            return
        try:
            await self.cache.bump(ids, "event")
        except Exception as exc:  # noqa: BLE001 - Redis away: keep the event, try again
            log.warning("View cache: bump of %s failed, requeueing: %r", ids, exc)
            await asyncio.sleep(self.RETRY_PAUSE)
            await message.nack(requeue=True)
            return
        await message.ack()
        due = monotonic() + self.settings.view_cache_settle_seconds
        for customer_id in ids:
            self._settle[customer_id] = due     # the latest event's time wins

    async def _settle_loop(self) -> None:
        tick = min(0.25, self.settings.view_cache_settle_seconds / 2) or 0.05
        while True:
            await asyncio.sleep(tick)
            now = monotonic()
            due = [c for c, at in self._settle.items() if at <= now]
            if not due:
                continue
            try:
                await self.cache.bump(due, "settle")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep them for the next tick
                log.warning("View cache: settle bump failed: %r", exc)
                # past the TTL a bump is pointless: every view it was meant for has expired
                stale = now - self.cache.ttl
                self._settle = {c: at for c, at in self._settle.items() if at > stale}
                continue
            for customer_id in due:
                if self._settle.get(customer_id, now + 1) <= now:
                    del self._settle[customer_id]
