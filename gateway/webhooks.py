"""Webhooks: the services' events POSTed, signed, to integrations' URLs, with retries.

Flow (docs/security.md):

1. **consumer** — a durable queue ``gateway.webhooks`` bound with ``#`` to every
   ``<service>.events`` exchange. Each event is matched against the active subscriptions
   (type patterns ``lead.claimed`` / ``lead.*`` / ``*`` and equality filters on ``data``
   fields); one ``webhook_deliveries`` row per match is inserted (unique
   ``(webhook_id, event_id)``: a redelivered event adds nothing), then the message is acked.
2. **dispatcher** — an asyncio task polls due deliveries (``status = pending`` and
   ``next_attempt_at <= now``), *claims* each with a conditional UPDATE that pushes
   ``next_attempt_at`` a lease ahead (so one replica sends it, and a crash mid-send retries
   after the lease), and sends at most ``WEBHOOK_CONCURRENCY`` at once with httpx and a short
   timeout. A 2xx answer → ``succeeded``; anything else → another try after
   ``WEBHOOK_BACKOFF_SECONDS * 2**(attempt-1)``, ``dead`` after ``WEBHOOK_MAX_ATTEMPTS``.
   Every attempt is logged (``webhook_attempts``: code, duration, error).

The request: ``POST <url>`` with the event envelope as JSON and the headers ``X-CRM-Event``,
``X-CRM-Delivery``, ``X-CRM-Timestamp`` (Unix seconds) and ``X-CRM-Signature:
sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``.

The API never waits for any of this: consuming, sending and retrying run in their own tasks,
the database work on the thread pool, and a slow receiver only holds one of the bounded slots.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Coroutine, Iterable
from time import monotonic
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractQueue, AbstractRobustChannel
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmkit.errors import NotFound, ValidationFailed
from gateway.broker import EVENT_EXCHANGES, QueueConsumer, declare_exchanges
from gateway.db import Database
from gateway.models import Webhook, WebhookAttempt, WebhookDelivery
from gateway.notifications import MalformedEvent, parse_envelope
from gateway.pagination import decode_cursor, page
from gateway.settings import Settings

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
# how old the consumer's copy of the active subscriptions may be: a subscription made through
# another gateway replica takes effect within this (through this one: at once)
SUBSCRIPTIONS_TTL = 1.0
USER_AGENT = "crm-webhooks/1"
# the queue's bindings are re-derived from the subscriptions this often (a subscription made
# or ended through another gateway replica: that replica has already changed them)
BINDINGS_RESYNC_SECONDS = 30.0


# -- pure rules ---------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str,
           tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (docs/security.md): signature and timestamp freshness."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def type_matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def filters_match(filters: dict[str, Any], data: dict[str, Any]) -> bool:
    """Every filter field equals the event's ``data`` field (a list filter: any of them)."""
    for field_name, wanted in filters.items():
        value = data.get(field_name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def backoff(attempt: int, base: float) -> float:
    """Seconds before the retry that follows attempt number ``attempt`` (1-based)."""
    return base * 2 ** (attempt - 1)


# -- store --------------------------------------------------------------------------------


def create_webhook(session: Session, *, name: str, url: str, events: list[str],
                   filters: dict[str, Any], created_by: str) -> Webhook:
    webhook = Webhook(name=name, url=url, events=events, filters=filters, secret=new_secret(),
                      active=True, created_by=created_by)
    session.add(webhook)
    session.flush()
    return webhook


def get_webhook(session: Session, webhook_id: str) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise NotFound("webhook_not_found", "Webhook not found")
    return webhook


def list_webhooks(session: Session, *, cursor: str | None, limit: int
                  ) -> tuple[list[Webhook], str | None]:
    stmt = select(Webhook).order_by(Webhook.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(Webhook.id > after)
    return page(list(session.scalars(stmt)), limit)


def _active(session: Session) -> Iterable[Webhook]:
    return session.scalars(select(Webhook).where(Webhook.active.is_(True)))


def _wants(events: list[str] | None, filters: dict | None, envelope: dict[str, Any]) -> bool:
    """Does a subscription to ``events`` with ``filters`` want this event?"""
    return (type_matches(events or [], envelope["type"])
            and filters_match(filters or {}, envelope.get("data") or {}))


def active_subscriptions(session: Session) -> list[tuple[list[str], dict]]:
    """(event patterns, filters) of every active webhook."""
    return [(list(w.events or []), dict(w.filters or {})) for w in _active(session)]


def binding_keys(patterns: Iterable[str]) -> set[str]:
    """The topic routing keys that bring the events ``patterns`` subscribe to: ``*`` → ``#``,
    ``lead.*`` → ``lead.#``, an event type → itself. A superset at most (``lead.#`` also
    matches ``lead``); the consumer still checks ``type_matches`` and the filters."""
    keys = set()
    for pattern in patterns:
        if pattern == "*":
            keys.add("#")
        elif pattern.endswith(".*"):
            keys.add(pattern[:-1] + "#")
        elif pattern:
            keys.add(pattern)
    return keys


def wanted(subscriptions: list[tuple[list[str], dict]], envelope: dict[str, Any]) -> bool:
    """Does any of these subscriptions want this event?"""
    return any(_wants(events, filters, envelope) for events, filters in subscriptions)


def enqueue(session: Session, envelope: dict[str, Any]) -> int:
    """Insert a delivery for each matching active subscription; the number inserted."""
    added = 0
    for webhook in _active(session):
        if not _wants(webhook.events, webhook.filters, envelope):
            continue
        exists = session.scalar(select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == webhook.id,
            WebhookDelivery.event_id == envelope["id"]))
        if exists is not None:
            continue
        try:
            with session.begin_nested():
                session.add(WebhookDelivery(
                    webhook_id=webhook.id, event_id=envelope["id"],
                    event_type=envelope["type"], payload=envelope, status="pending",
                    attempts=0, next_attempt_at=dt.datetime.now(dt.UTC)))
            added += 1
        except IntegrityError:  # another replica inserted it at the same moment
            continue
    return added


def claim_due(session: Session, limit: int, now: dt.datetime | None = None
              ) -> list[dict[str, Any]]:
    """Due deliveries this process now owns (a lease on ``next_attempt_at``)."""
    now = now or dt.datetime.now(dt.UTC)
    rows = list(session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                      WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)))
    claimed = []
    lease = now + dt.timedelta(seconds=LEASE_SECONDS)
    for row in rows:
        result = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == row.id, WebhookDelivery.status == "pending",
                   WebhookDelivery.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=lease).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            continue
        webhook = session.get(Webhook, row.webhook_id)
        if webhook is None or not webhook.active:
            continue
        claimed.append({"id": row.id, "webhook_id": row.webhook_id, "url": webhook.url,
                        "secret": webhook.secret, "event_type": row.event_type,
                        "payload": row.payload, "attempts": row.attempts})
    return claimed


def record_attempt(session: Session, delivery_id: str, *, ok: bool, code: int | None,
                   duration_ms: int, error: str | None, max_attempts: int,
                   backoff_base: float, now: dt.datetime | None = None) -> str:
    """Log one attempt and schedule the next; the delivery's new status."""
    now = now or dt.datetime.now(dt.UTC)
    delivery = session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    delivery.attempts += 1
    number = 1 + len(list(session.scalars(select(WebhookAttempt.id).where(
        WebhookAttempt.delivery_id == delivery_id))))
    session.add(WebhookAttempt(delivery_id=delivery_id, number=number, at=now, ok=ok,
                               response_code=code, duration_ms=duration_ms, error=error))
    if ok:
        delivery.status, delivery.last_error = "succeeded", None
    elif delivery.attempts >= max_attempts:
        delivery.status, delivery.last_error = "dead", error
    else:
        delivery.last_error = error
        delivery.next_attempt_at = now + dt.timedelta(
            seconds=backoff(delivery.attempts, backoff_base))
    session.flush()
    return delivery.status


def list_deliveries(session: Session, webhook_id: str, *, cursor: str | None, limit: int,
                    status: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    get_webhook(session, webhook_id)
    stmt = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc()).limit(limit + 1))
    before = decode_cursor(cursor)
    if before:
        stmt = stmt.where(WebhookDelivery.id < before)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    rows, next_cursor = page(list(session.scalars(stmt)), limit)
    attempts: dict[str, list[WebhookAttempt]] = {r.id: [] for r in rows}
    if rows:
        for attempt in session.scalars(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_(list(attempts))).order_by(WebhookAttempt.number)):
            attempts[attempt.delivery_id].append(attempt)
    return [delivery_public(r, attempts[r.id]) for r in rows], next_cursor


def delivery_public(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": row.id, "webhook_id": row.webhook_id, "event_id": row.event_id,
        "event_type": row.event_type, "status": row.status, "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
        "last_error": row.last_error, "created_at": row.created_at,
        "attempt_log": [{"number": a.number, "at": a.at, "ok": a.ok,
                         "response_code": a.response_code, "duration_ms": a.duration_ms,
                         "error": a.error} for a in attempts],
    }


def replay(session: Session, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    """Send a delivery again now, with a fresh round of attempts (any status)."""
    get_webhook(session, webhook_id)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.webhook_id != webhook_id:
        raise NotFound("delivery_not_found", "Delivery not found")
    row.status, row.attempts = "pending", 0
    row.next_attempt_at = dt.datetime.now(dt.UTC)
    session.flush()
    return delivery_public(row, [])


def validate_url(url: str) -> str:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed("validation_error", "url must be an http(s) URL", [
            {"loc": ["body", "url"], "msg": "an absolute http(s) URL", "type": "value_error"}])
    return url


# -- the consumer and the dispatcher --------------------------------------------------------


class WebhookService(QueueConsumer):
    """Started in the lifespan: consumes events into deliveries and sends them."""

    name = "gateway-webhooks"

    def __init__(self, settings: Settings, database: Database) -> None:
        super().__init__(settings)
        self.database = database
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        self._in_flight: set[asyncio.Task] = set()
        self._http: httpx.AsyncClient | None = None
        self._subscriptions: tuple[float, list] | None = None   # (read at, subscriptions)
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._exchanges: list[aio_pika.abc.AbstractExchange] = []
        self._bound: set[str] = {"#"}        # what to unbind when not wanted (older: '#')
        self._binding = asyncio.Lock()

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._dispatch(), self._resync()]

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.webhook_timeout,
                                           headers={"User-Agent": USER_AGENT},
                                           follow_redirects=False)
        await super().start()

    async def close(self) -> None:
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await super().close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def wake(self) -> None:
        self._wake.set()

    def subscriptions_changed(self) -> None:
        """A subscription was made or ended through this process: re-read them now."""
        self._subscriptions = None

    async def sync_bindings(self) -> set[str]:
        """Bind the webhook queue to exactly the event types the active subscriptions want.

        Events nobody subscribed to then never reach the gateway: no delivery, no parse, no
        ack per event (the broker drops them for this queue). Called when the consumer
        (re)connects, when a subscription is made or ended through this process (before the
        request answers, so every event published after it is routed), and every
        ``BINDINGS_RESYNC_SECONDS``. Returns the keys now bound."""
        async with self._binding:
            queue, exchanges = self._queue, self._exchanges
            if queue is None:
                return set()
            subscriptions = await run_in_threadpool(self.database.run, active_subscriptions)
            self._subscriptions = (monotonic(), subscriptions)
            keys = binding_keys(p for patterns, _ in subscriptions for p in patterns)
            for exchange in exchanges:
                for key in sorted(keys):
                    await queue.bind(exchange, routing_key=key)
                for key in sorted(self._bound - keys):
                    await queue.unbind(exchange, routing_key=key)
            self._bound = keys
            return keys

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(BINDINGS_RESYNC_SECONDS)
            try:
                await self.sync_bindings()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or store away: next round
                log.warning("Webhook bindings not synchronised: %s", exc)

    async def _wants(self, envelope: dict[str, Any]) -> bool:
        """Whether any active subscription wants the event, from a copy of the subscriptions
        at most ``SUBSCRIPTIONS_TTL`` seconds old: most events match none, and then the store
        is not touched at all (``enqueue`` checks again, in the store, for those that do)."""
        cached = self._subscriptions
        if cached is None or monotonic() - cached[0] > SUBSCRIPTIONS_TTL:
            cached = (monotonic(), await run_in_threadpool(self.database.run,
                                                           active_subscriptions))
            self._subscriptions = cached
        return wanted(cached[1], envelope)

    async def declare(self, channel: AbstractRobustChannel) -> AbstractQueue:
        """The queue, bound to what the active subscriptions want (``sync_bindings``)."""
        queue = await channel.declare_queue(self.settings.webhooks_queue, durable=True)
        self._exchanges = list((await declare_exchanges(channel, EVENT_EXCHANGES)).values())
        self._queue = queue
        await self.sync_bindings()
        return queue

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            envelope = parse_envelope(message.body)
        except MalformedEvent as exc:
            log.error("Dropping a malformed event for webhooks: %s", exc)
            await message.reject(requeue=False)
            return
        try:
            if not await self._wants(envelope):
                await message.ack()
                return
            added = await run_in_threadpool(self.database.run, enqueue, envelope)
        except Exception as exc:  # noqa: BLE001 - store down: try again later
            log.warning("Could not enqueue webhook deliveries, requeueing: %s", exc)
            await asyncio.sleep(1)
            await message.nack(requeue=True)
            return
        await message.ack()
        if added:
            self.wake()

    async def _dispatch(self) -> None:
        while True:
            try:
                free = self.settings.webhook_concurrency * 2 - len(self._in_flight)
                claimed = await run_in_threadpool(self.database.run, claim_due,
                                                  free) if free > 0 else []
                for delivery in claimed:
                    task = asyncio.create_task(self._send(delivery))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep polling
                log.warning("Webhook dispatcher poll failed: %s", exc)
            self._wake.clear()
            try:
                async with asyncio.timeout(self.settings.webhook_poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _send(self, delivery: dict[str, Any]) -> None:
        assert self._http is not None
        body = json.dumps(delivery["payload"], ensure_ascii=False,
                          separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-CRM-Event": delivery["event_type"],
                   "X-CRM-Delivery": delivery["id"], "X-CRM-Timestamp": timestamp,
                   "X-CRM-Signature": sign(delivery["secret"], timestamp, body)}
        code: int | None = None
        error: str | None = None
        async with self._slots:
            started = time.perf_counter()
            try:
                answer = await self._http.post(delivery["url"], content=body, headers=headers,
                                               timeout=self.settings.webhook_timeout)
                code = answer.status_code
                if not 200 <= code < 300:
                    error = f"HTTP {code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
            duration_ms = int((time.perf_counter() - started) * 1000)
        s = self.settings
        try:
            status = await run_in_threadpool(
                self.database.run, record_attempt, delivery["id"], ok=error is None, code=code,
                duration_ms=duration_ms, error=error, max_attempts=s.webhook_max_attempts,
                backoff_base=s.webhook_backoff_seconds)
        except Exception as exc:  # noqa: BLE001 - the lease expires: it is sent again
            log.warning("Could not record webhook attempt %s: %s", delivery["id"], exc)
            return
        if status == "dead":
            log.error("Webhook delivery %s is dead after %d attempts: %s", delivery["id"],
                      s.webhook_max_attempts, error)
