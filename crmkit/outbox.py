"""The outbox relay: publishes committed events to RabbitMQ, then moves them to the archive.

Events are rows of the ``outbox`` table written in the same transaction as the
change they report (see ``crmkit.uow``). The relay reads unsent rows in id
order, publishes a batch to the ``<service>.events`` topic exchange with
publisher confirms, waits until the broker has confirmed the whole batch, and
only then moves the rows to ``outbox_sent`` (stamped ``sent_at``). A crash
anywhere in between leaves the rows in the outbox, so they go out after restart
(at least once; consumers de-duplicate by event id). With several replicas on
PostgreSQL each batch is taken with ``FOR UPDATE SKIP LOCKED`` so replicas
relay different rows.

The outbox is a queue table: every relayed row leaves a dead index entry behind,
and the next round's ``ORDER BY id`` scan starts by stepping over all of them
until a VACUUM removes them — a round cost 0.3 ms on a fresh table, 2 ms after
20,000 events, and autovacuum comes rarely to a big table. So the outbox holds
only unsent rows, and on PostgreSQL the relay vacuums it (a few pages) at most
once per ``VACUUM_EVERY`` after relaying. The archive is purged after
``OUTBOX_RETAIN_DAYS``.
"""
from __future__ import annotations

import json
import logging
import threading
import time

import amqp
import kombu
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from crmkit import metrics, timeutil
from crmkit.corked import corked, frame_writer

log = logging.getLogger(__name__)


#: seconds between two counts of the relay's backlog (the ``crm_outbox_backlog`` gauge)
BACKLOG_EVERY = 1.0
#: at most one VACUUM of the outbox per this many seconds (PostgreSQL, after relaying)
VACUUM_EVERY = 1.0
#: seconds between two purges of the archive's rows older than the retention
PURGE_EVERY = 600.0
#: archive rows deleted per purge transaction
PURGE_CHUNK = 5000


class PublishFailed(Exception):
    pass


class ConfirmingPublisher:
    """One AMQP channel in confirm mode; publishes a batch and waits for all its acks."""

    def __init__(self, amqp_uri: str, confirm_timeout: float = 10.0):
        self.amqp_uri = amqp_uri
        self.confirm_timeout = confirm_timeout
        self._kombu: kombu.Connection | None = None
        self._channel: amqp.Channel | None = None
        self._declared: set[str] = set()
        self._published = 0
        self._acked = 0
        self._nacked = False

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._acked = max(self._acked, tag)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked = True

    def _connect(self) -> amqp.Channel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._kombu = kombu.Connection(self.amqp_uri, heartbeat=0,
                                       transport_options={"frame_writer": frame_writer})
        self._kombu.connect()
        raw: amqp.Connection = self._kombu.connection
        channel = raw.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._channel, self._published, self._acked, self._nacked = channel, 0, 0, False
        self._declared = set()
        return channel

    def publish_batch(self, messages: list[tuple[str, str, str, dict]]) -> None:
        """messages: (exchange, routing_key, json body, headers). Raises PublishFailed."""
        try:
            channel = self._connect()
            for exchange in {exchange for exchange, *_ in messages} - self._declared:
                channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
                self._declared.add(exchange)
            with corked(self._kombu.connection):     # the batch in one socket write
                for exchange, routing_key, body, headers in messages:
                    channel.basic_publish(
                        amqp.Message(body, content_type="application/json",
                                     content_encoding="utf-8", delivery_mode=2,
                                     application_headers=headers),
                        exchange=exchange, routing_key=routing_key)
                    self._published += 1
            deadline = time.monotonic() + self.confirm_timeout
            while self._acked < self._published and not self._nacked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PublishFailed("timed out waiting for publisher confirms")
                self._kombu.connection.drain_events(timeout=remaining)
            if self._nacked:
                raise PublishFailed("broker refused (nacked) a message")
        except PublishFailed:
            self.close()
            raise
        except Exception as exc:  # connection refused, channel closed, socket errors...
            self.close()
            raise PublishFailed(repr(exc)) from exc

    def close(self) -> None:
        if self._kombu is not None:
            try:
                self._kombu.release()
            except Exception:  # noqa: BLE001 - best effort on a broken connection
                pass
        self._kombu, self._channel = None, None


class OutboxRelay:
    def __init__(self, service: str, engine: Engine, outbox: sa.Table, outbox_sent: sa.Table,
                 amqp_uri: str, batch_size: int = 500, poll_interval: float = 1.0,
                 retain_days: int = 7):
        self.service = service
        self.engine = engine
        self.outbox = outbox
        self.outbox_sent = outbox_sent
        self.retain_days = retain_days
        self.exchange = f"{service}.events"
        self.publisher = ConfirmingPublisher(amqp_uri)
        self.batch_size = batch_size          # builds the round's SELECT (the setter)
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stopped = False
        self._held_until = 0.0
        self._counted_at = float("-inf")     # when the backlog was last counted
        self._vacuumed_at = float("-inf")
        self._moved = 0                      # rows moved to the archive since the last VACUUM
        self._purged_at = float("-inf")
        # the round's statements are built once (their compiled forms are then cached)
        o, sent = outbox, outbox_sent
        self._moved_cols = ["id", "event_id", "type", "payload", "created_at"]
        if engine.dialect.name == "postgresql":
            # one statement, the ids as one array parameter: the delete hands its rows
            # to the archive's insert
            moved = (sa.delete(o).where(o.c.id == sa.any_(sa.bindparam(
                "ids", type_=postgresql.ARRAY(o.c.id.type))))
                .returning(*(o.c[name] for name in self._moved_cols)).cte("moved"))
            self._move = sent.insert().from_select(
                [*self._moved_cols, "sent_at"],
                sa.select(*(moved.c[name] for name in self._moved_cols),
                          sa.bindparam("sent_at", type_=sent.c.sent_at.type)))

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, size: int) -> None:
        """Most events per round: the round's SELECT of unsent rows, oldest first."""
        o = self.outbox
        self._batch_size = size
        self._unsent = (sa.select(o.c.id, o.c.type, o.c.payload).where(o.c.sent_at.is_(None))
                        .order_by(o.c.id).limit(size))
        self._unsent_locked = self._unsent.with_for_update(skip_locked=True)

    def kick(self) -> None:
        """Called after a commit that wrote events: relay them now rather than at the next
        poll (and end a hold)."""
        self._held_until = 0.0
        self._wake.set()

    def hold(self, seconds: float) -> None:
        """Publish nothing for the next ``seconds`` (a later hold or a kick replaces it):
        a bulk write in progress (``UnitOfWork.hold_relay``) asks it of its own process so
        that relaying its events does not compete with it for the CPU. Nothing is lost or
        reordered: the events wait in the outbox and go out in id order afterwards."""
        self._held_until = time.monotonic() + seconds

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def run(self) -> None:
        backoff = 0.5
        while not self._stopped:
            held = self._held_until - time.monotonic()
            if held > 0:
                self._wake.wait(held)
                self._wake.clear()
                continue
            self._housekeeping()
            try:
                sent = self.relay_once()
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - keep relaying whatever went wrong
                log.warning("outbox relay failed, retrying", extra={"error": repr(exc),
                                                                   "retry_in": backoff})
                metrics.OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
                self._wake.wait(backoff)
                self._wake.clear()
                backoff = min(backoff * 2, 10.0)
                continue
            if sent < self.batch_size:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        self.publisher.close()

    def relay_once(self) -> int:
        """Publish one batch of unsent events; returns how many were published.

        PostgreSQL: the batch is locked (``FOR UPDATE SKIP LOCKED``) for the whole
        publish, so concurrent replicas relay disjoint rows. SQLite (one replica): read,
        publish and mark sent in separate short transactions, so the file's write lock is
        never held while waiting for the broker.
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                rows = conn.execute(self._unsent_locked).all()
                if rows:
                    self._publish(rows)
                    self._archive(conn, rows)
                self._count_backlog(conn)
        else:
            with self.engine.begin() as conn:
                rows = conn.execute(self._unsent).all()
            if rows:
                self._publish(rows)
            with self.engine.begin() as conn:
                self._archive(conn, rows)
                self._count_backlog(conn)
        return len(rows)

    def _count_backlog(self, conn) -> None:
        """The backlog gauge, counted at most once per ``BACKLOG_EVERY`` seconds: under load
        the relay runs dozens of rounds a second, and a count per round was a statement per
        round for a gauge scraped every few seconds. An idle relay still polls (and so
        counts) every ``poll_interval``: the gauge is never older than that."""
        now = time.monotonic()
        if now - self._counted_at >= BACKLOG_EVERY:
            self._counted_at = now
            metrics.OUTBOX_BACKLOG.labels(self.service).set(self._backlog(conn))

    def _publish(self, rows) -> None:
        messages = []
        for row in rows:
            envelope = json.loads(row.payload)
            headers = {"nameko.correlation_id": envelope.get("correlation_id") or "",
                       "nameko.call_id_stack": [f"{self.service}.outbox.{row.id}"]}
            messages.append((self.exchange, row.type, row.payload, headers))
        self.publisher.publish_batch(messages)

    def _archive(self, conn, rows) -> None:
        """Move the confirmed rows to ``outbox_sent``, stamped with the time they went out."""
        if not rows:
            return
        ids, now = [r.id for r in rows], timeutil.now()
        if self.engine.dialect.name == "postgresql":
            conn.execute(self._move, {"ids": ids, "sent_at": now})
        else:
            o, sent = self.outbox, self.outbox_sent
            conn.execute(sent.insert().from_select(
                [*self._moved_cols, "sent_at"],
                sa.select(*(o.c[name] for name in self._moved_cols),
                          sa.literal(now, sent.c.sent_at.type)).where(o.c.id.in_(ids))))
            conn.execute(sa.delete(o).where(o.c.id.in_(ids)))
        self._moved += len(rows)
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.service, row.type).inc()

    def _housekeeping(self) -> None:
        """Between rounds: VACUUM the outbox (PostgreSQL) and purge the archive, each when
        due. A failure is logged and tried again when next due; relaying goes on."""
        now = time.monotonic()
        try:
            if (self._moved and now - self._vacuumed_at >= VACUUM_EVERY
                    and self.engine.dialect.name == "postgresql"):
                self._vacuumed_at, self._moved = now, 0
                self.vacuum()
            if now - self._purged_at >= PURGE_EVERY:
                self._purged_at = now
                self.purge_sent(self.retain_days)
        except Exception as exc:  # noqa: BLE001 - housekeeping never stops the relay
            log.warning("outbox housekeeping failed", extra={"error": repr(exc)})

    def _backlog(self, conn) -> int:
        o = self.outbox
        return conn.execute(sa.select(sa.func.count()).select_from(o)
                            .where(o.c.sent_at.is_(None))).scalar_one()

    def vacuum(self) -> None:
        """Remove the dead rows and index entries the relayed rows left (a small table: a
        few pages). ``SKIP_LOCKED``: another replica's VACUUM of it is enough."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {self.outbox.name}")

    def purge_sent(self, older_than_days: int) -> int:
        """Delete the archive's rows sent more than ``older_than_days`` ago, in short
        transactions of ``PURGE_CHUNK`` rows; returns how many."""
        sent = self.outbox_sent
        cutoff = timeutil.now() - timeutil.days(older_than_days)
        oldest = (sa.select(sent.c.event_id).where(sent.c.sent_at < cutoff)
                  .order_by(sent.c.sent_at).limit(PURGE_CHUNK))
        purged = 0
        while True:
            with self.engine.begin() as conn:
                deleted = conn.execute(sa.delete(sent).where(
                    sent.c.event_id.in_(oldest))).rowcount or 0
            purged += deleted
            if deleted < PURGE_CHUNK:
                return purged
