"""Event envelope and the reliable, retrying event handler entrypoint.

Envelope (SPEC §5): ``{id, type, version, occurred_at, source, actor_id,
correlation_id, data}``, published by the outbox relay to the topic exchange
``<source>.events`` with the event type as routing key, which is exactly where
Nameko's ``event_handler`` listens.

Nameko acks an event even when its handler raises, so a failure would be lost.
``handles(source, type)`` is Nameko's service-pool event handler with a
bounded retry: a failed delivery is re-published to ``<queue>.retry`` (a queue
whose messages expire after ``EVENT_RETRY_DELAY_MS`` back into the handler's
queue) with an attempt counter; after ``EVENT_MAX_ATTEMPTS`` it goes to the
dead-letter queue ``<queue>.dlq`` instead (a failure because the service's own database is
unreachable, ``ServiceUnavailable``, does not count as an attempt). The original is acked
only once the copy is confirmed by the broker, so nothing is lost in between. A message whose body
cannot be decoded at all (not JSON) never reaches a handler; kombu's default would log and
drop it, so the reliable entrypoints' queue consumer parks it in ``<queue>.dlq`` as is.
"""
from __future__ import annotations

import functools
import logging

import kombu
from kombu import Exchange, Queue, binding
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

from crmkit import metrics, timeutil
from crmkit.corked import corked
from crmkit.corked import frame_writer as corked_frames
from crmkit.errors import ServiceUnavailable
from crmkit.ids import new_id

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-crm-attempts"


def envelope(event_type: str, data: dict, *, source: str, actor_id: str | None = None,
             correlation_id: str | None = None, version: int = 1, event_id: str | None = None,
             occurred_at: str | None = None) -> dict:
    """``event_id`` and ``occurred_at`` (ISO 8601): given when many events are made at
    once; by default a new id and now."""
    return {
        "id": event_id or new_id(),
        "type": event_type,
        "version": version,
        "occurred_at": occurred_at or timeutil.iso(timeutil.now()),
        "source": source,
        "actor_id": actor_id,
        "correlation_id": correlation_id,
        "data": data,
    }


class _Retrying:
    """Retry-then-dead-letter result handling shared by the reliable entrypoints."""

    event_label = "*"

    def _setup_retry(self, queue_name: str) -> None:
        settings = self.container.config["CRM"]
        self.max_attempts = settings.event_max_attempts
        self.amqp_uri = settings.amqp_uri
        default = Exchange("", type="direct")
        self.retry_queue = Queue(
            f"{queue_name}.retry", exchange=default, routing_key=f"{queue_name}.retry",
            durable=True,
            queue_arguments={"x-message-ttl": settings.event_retry_delay_ms,
                             "x-dead-letter-exchange": "",
                             "x-dead-letter-routing-key": queue_name})
        self.dead_letter_queue = Queue(f"{queue_name}.dlq", exchange=default,
                                       routing_key=f"{queue_name}.dlq", durable=True)
        with kombu.Connection(self.amqp_uri) as conn:
            channel = conn.default_channel
            self.retry_queue(channel).declare()
            self.dead_letter_queue(channel).declare()

    def _label(self, message) -> str:
        body = message.payload if hasattr(message, "payload") else None
        if isinstance(body, dict) and isinstance(body.get("type"), str):
            return body["type"]
        return self.event_label

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        service = self.container.service_name
        label = self._label(message)
        if exc_info is None:
            metrics.EVENTS_CONSUMED.labels(service, label).inc()
            self.queue_consumer.ack_message(message)
            log.info("event handled", extra={"event_type": label,
                                             "event_id": _event_id(message),
                                             "handler": worker_ctx.entrypoint.method_name})
            return result, exc_info
        metrics.EVENTS_FAILED.labels(service, label).inc()
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0))
        if not isinstance(exc_info[1], ServiceUnavailable):
            attempts += 1     # the store being down is no fault of the event: retry it freely
        target = self.retry_queue if attempts < self.max_attempts else self.dead_letter_queue
        headers = dict(message.headers or {})
        headers[ATTEMPTS_HEADER] = attempts
        headers["x-crm-last-error"] = repr(exc_info[1])[:500]
        try:
            with kombu.Connection(self.amqp_uri, transport_options={"confirm_publish": True}) as c:
                c.Producer().publish(
                    message.body, exchange="", routing_key=target.routing_key,
                    headers=headers, content_type=message.content_type,
                    content_encoding=message.content_encoding, delivery_mode=2,
                    serializer=None)
        except Exception:  # noqa: BLE001 - could not park it: give it back to the queue
            log.exception("could not re-publish failed event; requeueing")
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        if target is self.dead_letter_queue:
            metrics.EVENTS_DEAD_LETTERED.labels(service, label).inc()
            log.error("event dead-lettered", extra={"event_type": label, "attempts": attempts,
                                                    "queue": target.name})
        else:
            log.warning("event handler failed; will retry",
                        extra={"event_type": label, "attempts": attempts})
        self.queue_consumer.ack_message(message)
        return result, exc_info


    def park_undecodable(self, message, exc: Exception) -> None:
        """A body that is not JSON: straight to the dead-letter queue, then ack (or requeue)."""
        headers = dict(message.headers or {})
        headers[ATTEMPTS_HEADER] = 0
        headers["x-crm-last-error"] = repr(exc)[:500]
        try:
            with kombu.Connection(self.amqp_uri, transport_options={"confirm_publish": True}) as c:
                c.Producer().publish(
                    message.body, exchange="", routing_key=self.dead_letter_queue.routing_key,
                    headers=headers, content_type=message.content_type,
                    content_encoding=message.content_encoding, delivery_mode=2,
                    serializer=None)
        except Exception:  # noqa: BLE001 - could not park it: give it back to the queue
            log.exception("could not park an undecodable message; requeueing")
            message.requeue()
            return
        metrics.EVENTS_DEAD_LETTERED.labels(self.container.service_name, "undecodable").inc()
        log.error("undecodable message dead-lettered",
                  extra={"queue": self.dead_letter_queue.name, "error": repr(exc)[:200]})
        message.ack()


class _ParkingQueueConsumer(QueueConsumer):
    """Nameko's queue consumer for the reliable entrypoints: an undecodable message goes to
    its queue's dead-letter queue instead of being acked and dropped (kombu's default).

    An ack or requeue that meets a socket already reset by a broker going away is dropped
    (Nameko only ignores amqp's own ``ConnectionError``; the socket's ``ConnectionResetError``
    used to crash the service): the broker gives the unacked message again after the
    reconnect, and the consumer's inbox makes the second delivery a no-op."""

    def ack_message(self, message):
        try:
            super().ack_message(message)
        except OSError as exc:
            log.warning("ack lost with the broker connection; the message comes again",
                        extra={"error": repr(exc)[:200]})

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        except OSError as exc:
            log.warning("requeue lost with the broker connection; the message comes again",
                        extra={"error": repr(exc)[:200]})

    def on_decode_error(self, message, exc):
        tag = (message.delivery_info or {}).get("consumer_tag")
        for provider, consumer in list(self._consumers.items()):
            if isinstance(provider, _Retrying) and tag in consumer._active_tags.values():
                provider.park_undecodable(message, exc)
                return
        super().on_decode_error(message, exc)


class _BatchQueueConsumer(_ParkingQueueConsumer):
    """The queue consumer of the batch entrypoints, on a connection of its own: Nameko's
    prefetch is the container's ``max_workers`` (8 by default), which would cap a batch at
    8 unacked events however deep the queue; here it is what the running batch workers hold
    plus one full batch waiting (``batch_size`` × (``concurrency`` + 1))."""

    @property
    def connection(self):
        """Nameko's connection, made with a frame writer that can cork (``_batch_done``
        acks a whole batch in one socket write)."""
        conn = super().connection
        conn.transport_options = {**(conn.transport_options or {}),
                                  "frame_writer": corked_frames}
        return conn

    @property
    def prefetch_count(self):
        return max([self.container.max_workers,
                    *(p.batch_size * (p.concurrency + 1) for p in self._providers)])


def _event_id(message) -> str | None:
    body = getattr(message, "payload", None)
    return body.get("id") if isinstance(body, dict) else None


class ReliableEventHandler(_Retrying, EventHandler):
    """Nameko's SERVICE_POOL event handler (one queue per handler) with retries and a DLQ."""

    queue_consumer = _ParkingQueueConsumer()

    def setup(self):
        super().setup()
        self.event_label = self.event_type
        self._setup_retry(self.queue.name)


class ReliableConsumer(_Retrying, Consumer):
    """One durable queue bound to many ``(source service, event type pattern)`` pairs.

    Used by consumers that want a stream of many event types in order (analytics).
    """

    queue_consumer = _ParkingQueueConsumer()

    def __init__(self, queue_name: str, bindings: list[tuple[str, str]], **kwargs):
        queue = Queue(queue_name, durable=True, bindings=[
            binding(Exchange(f"{source}.events", type="topic", durable=True), routing_key=key)
            for source, key in bindings])
        super().__init__(queue=queue, **kwargs)

    def setup(self):
        super().setup()
        self._setup_retry(self.queue.name)


class ReliableBatchConsumer(ReliableConsumer):
    """``ReliableConsumer`` whose method gets a *list* of message bodies.

    A worker applies many events in one transaction (analytics: one commit, one round of
    counter upserts for the lot) instead of one worker, one unit of work and one commit per
    event. At most ``concurrency`` batch workers run at once; a message that arrives while
    they are all busy waits in a buffer, and a worker that finishes takes everything waiting
    (up to ``batch_size``). So an idle queue is applied one event at a time with no added
    delay, and the busier the queue, the bigger the batches. The broker's prefetch
    (``batch_size`` × (``concurrency`` + 1), on a consumer connection of its own) bounds the
    buffer.

    Success acks every message of the batch. If a batch worker fails, nothing of it was
    committed, and each of its messages is handed to a worker of its own — so a poison
    message goes through the usual retry and dead-letter path alone and the others are
    applied without it.
    """

    queue_consumer = _BatchQueueConsumer()

    def __init__(self, queue_name: str, bindings: list[tuple[str, str]], *,
                 batch_size: int = 100, concurrency: int = 2, **kwargs):
        super().__init__(queue_name, bindings, **kwargs)
        self.batch_size = batch_size
        self.concurrency = concurrency

    def setup(self):
        super().setup()
        self._buffer: list = []
        self._running = 0

    def handle_message(self, body, message):
        self._buffer.append((body, message))
        self._dispatch()

    def _dispatch(self) -> None:
        if self._running >= self.concurrency or not self._buffer:
            return                       # the running batch's end dispatches the next
        batch, self._buffer = self._buffer[:self.batch_size], self._buffer[self.batch_size:]
        self._running += 1
        try:
            self.container.spawn_worker(
                self, ([body for body, _ in batch],), {},
                context_data=self.unpack_message_headers(batch[0][1]),
                handle_result=functools.partial(self._batch_done, batch))
        except ContainerBeingKilled:
            self._running -= 1
            for _, message in batch:
                self.queue_consumer.requeue_message(message)

    def _batch_done(self, batch, worker_ctx, result=None, exc_info=None):
        self._running -= 1
        if exc_info is None:
            try:
                with corked(batch[0][1].channel.connection):  # the acks in one socket write
                    for _, message in batch:
                        metrics.EVENTS_CONSUMED.labels(self.container.service_name,
                                                       self._label(message)).inc()
                        self.queue_consumer.ack_message(message)
            except OSError as exc:     # as _ParkingQueueConsumer.ack_message, for the lot
                log.warning("acks lost with the broker connection; the batch comes again",
                            extra={"events": len(batch), "error": repr(exc)[:200]})
            log.debug("event batch handled", extra={"events": len(batch)})
        elif len(batch) == 1:
            _Retrying.handle_result(self, batch[0][1], worker_ctx, result, exc_info)
        else:
            log.warning("event batch of %d failed (%r); applying its events one by one",
                        len(batch), exc_info[1])
            for body, message in batch:
                self._single(body, message)
        self._dispatch()
        return result, exc_info

    def _single(self, body, message) -> None:
        try:
            self.container.spawn_worker(
                self, ([body],), {}, context_data=self.unpack_message_headers(message),
                handle_result=functools.partial(_Retrying.handle_result, self, message))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)


handles = ReliableEventHandler.decorator
consumes = ReliableConsumer.decorator
consumes_batches = ReliableBatchConsumer.decorator
