"""The unit of work: one transaction, the events it raised, the outbox.

Entrypoints stay thin::

    @rpc
    def claim_lead(self, lead_id):
        with self.db.unit() as uow:
            lead = handlers.claim(uow, self.principal, lead_id)
            return lead

Inside, domain code changes rows through ``uow.session`` and reports what
happened with ``uow.emit("lead.claimed", {...})``. On leaving the block the
events are inserted into the outbox and everything commits together; on an
exception everything rolls back and no event exists. A database that cannot be
reached (down, restarting, every pooled connection dropped) surfaces as
``ServiceUnavailable`` (503 at the gateway, retried by event consumers), not as an
internal error; the pool reconnects by itself once the server is back. Event handlers ask
``uow.first_delivery(event, consumer)`` first, which records the event id in
the inbox in the same transaction, so an event is applied once per consumer
however often RabbitMQ delivers it.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmkit import timeutil
from crmkit.db import database_unavailable, insert_many, kit_tables, make_engine, migrate
from crmkit.errors import ServiceUnavailable
from crmkit.events import envelope
from crmkit.ids import new_id, new_ids
from crmkit.outbox import OutboxRelay

log = logging.getLogger(__name__)


class DuplicateDelivery(Exception):
    """Raised inside a unit when its event was already applied; the unit rolls back quietly."""


class UnitOfWork:
    def __init__(self, store: Store, actor_id: str | None, correlation_id: str | None):
        self.store = store
        self.actor_id = actor_id
        self.correlation_id = correlation_id
        self.session = Session(store.engine, expire_on_commit=False, autoflush=True)
        self.events: list[dict] = []
        self.relay_hold = 0.0

    def emit(self, event_type: str, data: dict, version: int = 1) -> dict:
        env = envelope(event_type, data, source=self.store.service, actor_id=self.actor_id,
                       correlation_id=self.correlation_id, version=version)
        self.events.append(env)
        return env

    def emit_many(self, event_type: str, datas: list[dict], version: int = 1) -> None:
        """``emit`` for many events of one type at once (a bulk write): one clock read and
        one batch of ids for all of them."""
        occurred_at = timeutil.iso(timeutil.now())
        for event_id, data in zip(new_ids(len(datas)), datas, strict=True):
            self.events.append(envelope(
                event_type, data, source=self.store.service, actor_id=self.actor_id,
                correlation_id=self.correlation_id, version=version, event_id=event_id,
                occurred_at=occurred_at))

    def snapshot(self) -> None:
        """Every read of this unit sees one snapshot of the database: an answer made of
        several queries (a page and its total) never mixes states. PostgreSQL: the unit's
        transaction runs REPEATABLE READ (reverted when the connection goes back to the
        pool); SQLite's transactions already read one snapshot. Call it before the unit's
        first statement; meant for read-only units (a concurrent write would fail them)."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    def hold_relay(self, seconds: float) -> None:
        """After this unit commits, let this process's outbox relay wait up to ``seconds``
        instead of relaying at once (``OutboxRelay.hold``): a bulk write whose next part is
        on its way (a CSV import's next batch) keeps the machine for itself, and its events
        follow, in order, when it is done."""
        self.relay_hold = max(self.relay_hold, seconds)

    def first_delivery(self, event: dict, consumer: str) -> bool:
        """True the first time ``consumer`` sees ``event['id']``; records it in this unit."""
        # one round trip: insert, or nothing when it is there; a concurrent delivery of the
        # same event waits on the row and then inserts nothing
        values = {"event_id": event["id"], "consumer": consumer, "event_type": event["type"],
                  "applied_at": timeutil.now()}
        try:
            inserted = self.session.execute(self.store.inbox_insert, values).rowcount
        except IntegrityError as exc:  # defensive: a race the upsert did not absorb
            raise DuplicateDelivery(event["id"]) from exc
        return inserted == 1

    def first_deliveries(self, events: list[dict], consumer: str) -> set[str]:
        """The ids among ``events`` that ``consumer`` has not seen before, recorded in this
        unit: ``first_delivery`` for a whole batch in one statement (an id twice in the
        batch is new at most once)."""
        if not events:
            return set()
        if self.store.inbox_insert_many is None:       # SQLite: one statement per event
            return {e["id"] for e in events if self.first_delivery(e, consumer)}
        rows = self.session.execute(self.store.inbox_insert_many, {
            "ids": [e["id"] for e in events], "types": [e["type"] for e in events],
            "consumer": consumer, "applied_at": timeutil.now()})
        return {row[0] for row in rows}

    def commit(self) -> None:
        if self.events:
            now = timeutil.now()
            insert_many(self.session, self.store.outbox, [
                {"event_id": e["id"], "type": e["type"], "payload": json.dumps(e, default=str),
                 "created_at": now}
                for e in self.events])
        self.session.commit()
        if self.relay_hold > 0:
            self.store.hold_relay(self.relay_hold)
        elif self.events:
            self.store.kick_relay()

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.session.rollback()
        except Exception as failure:
            if exc_type is None and database_unavailable(failure):
                raise _unavailable(self.store.service) from failure
            if exc_type is None:
                raise
            # the rollback of a failed unit failed too (the connection is gone): the unit's
            # own error is what the caller must see
            log.warning("rollback failed", extra={"error": repr(failure)})
        finally:
            self.session.close()
        if exc_type is not None and database_unavailable(exc):
            raise _unavailable(self.store.service) from exc
        return exc_type is DuplicateDelivery


def _unavailable(service: str) -> ServiceUnavailable:
    return ServiceUnavailable("service_unavailable", "The service's database is not reachable",
                              {"service": service})


class Store:
    """A service's database: engine, migrations, kit tables and the outbox relay."""

    def __init__(self, service: str, metadata: sa.MetaData, migrations: Path,
                 database_url: str, amqp_uri: str, pool_size: int = 16,
                 relay: bool = True, batch: int = 500, retain_days: int = 7):
        self.service = service
        self.engine = make_engine(database_url, pool_size)
        self.outbox = metadata.tables["outbox"]
        self.outbox_sent = metadata.tables["outbox_sent"]
        self.inbox = metadata.tables["inbox"]
        # plain SQL, compiled once: SQLAlchemy cannot cache its ON CONFLICT constructs, and
        # compiling the statement again for every consumed event cost more than running it
        applied_at = sa.bindparam("applied_at", type_=self.inbox.c.applied_at.type)
        self.inbox_insert = sa.text(
            "INSERT INTO inbox (event_id, consumer, event_type, applied_at) "
            "VALUES (:event_id, :consumer, :event_type, :applied_at) "
            "ON CONFLICT (event_id, consumer) DO NOTHING").bindparams(applied_at)
        self.inbox_insert_many = sa.text(
            "INSERT INTO inbox (event_id, consumer, event_type, applied_at) "
            "SELECT u.event_id, :consumer, u.event_type, :applied_at "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:types AS varchar[])) "
            "AS u(event_id, event_type) "
            "ON CONFLICT (event_id, consumer) DO NOTHING RETURNING event_id"
        ).bindparams(applied_at) if self.engine.dialect.name == "postgresql" else None
        self.migrations = migrations
        self.relay = OutboxRelay(service, self.engine, self.outbox,
                                 self.outbox_sent, amqp_uri, batch_size=batch,
                                 retain_days=retain_days) if relay else None

    def migrate(self) -> None:
        migrate(self.engine, self.migrations, f"alembic_version_{self.service}")

    def kick_relay(self) -> None:
        if self.relay is not None:
            self.relay.kick()

    def hold_relay(self, seconds: float) -> None:
        if self.relay is not None:
            self.relay.hold(seconds)

    def unit(self, actor_id: str | None = None, correlation_id: str | None = None) -> UnitOfWork:
        return UnitOfWork(self, actor_id, correlation_id or new_id())


class Database(DependencyProvider):
    """``db = Database(Base.metadata, Path(__file__).parent / "migrations")``.

    Migrates the store when the container starts, runs the outbox relay in a
    managed green thread, and hands each worker an accessor whose ``unit()``
    carries the worker's actor and correlation id into the events it emits.
    """

    def __init__(self, metadata: sa.MetaData, migrations: Path):
        if "outbox" not in metadata.tables:
            kit_tables(metadata)
        self.metadata = metadata
        self.migrations = migrations
        self.store: Store | None = None

    def setup(self):
        settings = self.container.config["CRM"]
        self.store = Store(settings.service, self.metadata, self.migrations,
                           settings.database_url, settings.amqp_uri,
                           pool_size=settings.max_workers + 2,
                           relay=settings.outbox_relay, batch=settings.outbox_batch,
                           retain_days=settings.outbox_retain_days)
        self.store.migrate()

    def start(self):
        if self.store.relay is not None:
            self.container.spawn_managed_thread(self.store.relay.run, identifier="outbox-relay")

    def stop(self):
        if self.store.relay is not None:
            self.store.relay.stop()
        self.store.engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return _WorkerDatabase(self.store, worker_ctx)


class _WorkerDatabase:
    def __init__(self, store: Store, worker_ctx):
        self.store = store
        self._ctx = worker_ctx

    @property
    def engine(self):
        return self.store.engine

    def unit(self) -> UnitOfWork:
        from crmkit.principal import Principal

        data = self._ctx.context_data
        principal = Principal.from_json(data.get("principal"))
        return self.store.unit(principal.user_id, data.get("correlation_id"))
