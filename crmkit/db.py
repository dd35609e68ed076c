"""Engines, the kit's own tables (outbox, inbox) and schema migrations.

SQLite (the default) and PostgreSQL run the same code:

* SQLite: one connection per process (pool of 1). Nameko workers are green
  threads in one OS thread; SQLite's own busy-wait would block the whole hub,
  so units of work queue for the connection on a green lock instead. WAL mode.
* PostgreSQL: psycopg2 made cooperative with psycogreen (a wait callback that
  yields to the eventlet hub while the server works), a pool sized to the
  worker count so connections are reused, never churned.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from time import monotonic

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def _eventlet_patched() -> bool:
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover - eventlet is a hard dependency of services
        return False
    return patcher.is_monkey_patched("socket")


def make_engine(url: str, pool_size: int = 16) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, pool_size=1, max_overflow=0, pool_timeout=60,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql") and _eventlet_patched():
        import psycogreen.eventlet

        psycogreen.eventlet.patch_psycopg()
    # no overflow: a process never holds more than ``pool_size`` connections (its workers
    # + 2), so replicas × (workers + 2) is all PostgreSQL's max_connections has to cover; a
    # worker finding the pool empty waits for a connection instead of being refused one
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=0, pool_recycle=1800)
    _ping_when_idle(engine)
    return engine


PING_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling without a round trip per unit of work.

    ``pool_pre_ping`` would ping on every checkout: one more round trip for every RPC and
    event (≈10 % of a busy service's time). A connection back in use within
    ``PING_IDLE_SECONDS`` is not pinged; one that sat idle longer (the database may have restarted
    meanwhile) is, and a dead one is replaced before the caller sees it. A connection that
    breaks while in use fails its statement; SQLAlchemy then recognises the disconnect and
    invalidates the whole pool, so the next units of work reconnect.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.get("idle_since")
        if since is None or monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:  # noqa: BLE001 - any failure: let the pool reconnect
            raise sa.exc.DisconnectionError(f"idle connection failed its ping: {exc}") from exc


# PostgreSQL error codes of a server that is going away or not there yet (class 08:
# connection exceptions; 57P01-57P03: admin/crash shutdown, cannot connect now)
_UNAVAILABLE_PGCODES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException) -> bool:
    """Is ``exc`` the database being unreachable (as opposed to a bad statement or a conflict)?

    True for a connection refused or dropped (psycopg2 gives these no SQLSTATE), a server
    shutting down or starting up, a connection SQLAlchemy invalidated, and a pool whose
    checkout timed out. False for everything else, SQLite's errors included, so a bug still
    answers 500 and a serialization failure or deadlock keeps its own meaning.
    """
    if isinstance(exc, sa.exc.TimeoutError):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    if not hasattr(exc.orig, "pgcode"):          # not psycopg2 (SQLite): not an outage
        return False
    code = exc.orig.pgcode
    if code is None:  # libpq's own failures (refused, dropped) carry no SQLSTATE, base class
        return type(exc.orig).__name__ in ("OperationalError", "InterfaceError")
    return code.startswith(_UNAVAILABLE_PGCODES)


_INSERTS: dict[tuple, tuple[str, list]] = {}


def insert_many(session, table: sa.Table, rows: list[dict], on_conflict: str = "") -> None:
    """INSERT ``rows`` (dicts with the same keys: column names) into ``table`` in the
    session's transaction, as one statement.

    PostgreSQL: ``INSERT … SELECT * FROM unnest(<one array per column>)``, each value through
    its column type's own bind processing (what an executemany would send) and each array
    sent as one array literal (``_array_literal``): a fraction of the client and server CPU
    of an executemany of wide rows, and one statement whatever the number of rows (a
    ``VALUES`` list of n rows is a statement of its own for each n, each compiled, cached and
    kept). Elsewhere (SQLite): an executemany.

    ``on_conflict``: an ``ON CONFLICT …`` clause ending the statement (``excluded.<column>``
    is the row offered). PostgreSQL only: it applies to the whole statement, so the rows must
    not name one key twice.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        if on_conflict:
            raise ValueError("insert_many: on_conflict is for PostgreSQL only")
        session.execute(table.insert(), rows)
        return
    columns = tuple(rows[0])
    key = (table, columns, dialect, on_conflict)
    if key not in _INSERTS:
        quote = dialect.identifier_preparer.quote
        casts = ", ".join(f"CAST(%s AS {table.c[c].type.compile(dialect)}[])" for c in columns)
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
               f"SELECT * FROM unnest({casts})")
        if on_conflict:
            sql += " " + on_conflict.replace("%", "%%")   # exec_driver_sql: pyformat
        _INSERTS[key] = (sql, [table.c[c].type.bind_processor(dialect) for c in columns])
    sql, processors = _INSERTS[key]
    arrays = []
    for column, process in zip(columns, processors, strict=True):
        values = [row[column] for row in rows]
        if process is not None:
            values = _processed(process, values)
        arrays.append(_array_literal(values))
    session.connection().exec_driver_sql(sql, tuple(arrays))


def insert_objects(session, objects: list) -> None:
    """INSERT new mapped objects of one class as one statement (``insert_many``), without the
    ORM's unit of work — what a batch's flush costs in bookkeeping per object is most of a
    hot create's CPU.

    Each ``None`` attribute whose column has a default gets the default, on the object too
    (as a flush would), so the objects read afterwards as flushed ones. A column the server
    fills (an autoincrement key, a ``server_default``) is left to the server when every
    object leaves it ``None`` — the objects do not learn those values (nothing is returned)
    — and refused when only some do. The objects stay out of the session: the caller reads
    them, nothing tracks them."""
    if not objects:
        return
    mapper = sa.inspect(type(objects[0]))
    table = mapper.local_table
    attrs = [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]
    rows = []
    for obj in objects:
        # a new object's attributes are what it was given, in its ``__dict__`` (an attribute
        # never given reads None): the instrumented getattr costs a call chain per column
        given = obj.__dict__
        row = {}
        for key, column in attrs:
            value = given.get(key)
            if value is None and column.default is not None:
                default = column.default
                if default.is_scalar:
                    value = default.arg
                elif default.is_callable:
                    value = default.arg(None)
                else:
                    raise ValueError(f"{table.name}.{column.name}: a default insert_objects "
                                     "cannot compute")
                setattr(obj, key, value)
            row[column.name] = value
        rows.append(row)
    for _, column in attrs:
        if column.server_default is None and column is not table.autoincrement_column:
            continue
        given = sum(row[column.name] is not None for row in rows)
        if given == 0:
            for row in rows:
                del row[column.name]
        elif given < len(rows):
            raise ValueError(f"{table.name}.{column.name}: give it in every object or in none "
                             "(the server fills it)")
    insert_many(session, table, rows)


def _processed(process, values: list) -> list:
    """``process`` of each value, once per distinct object (a batch's rows share their
    timestamps and often more)."""
    done: dict[int, object] = {}
    out = []
    for value in values:
        key = id(value)
        if key not in done:
            done[key] = process(value)
        out.append(done[key])
    return out


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_element(value) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return _quoted(value.isoformat())
    if isinstance(value, str):
        return _quoted(value)
    raise TypeError(type(value).__name__)


def _array_literal(values: list) -> str | list:
    """The PostgreSQL array literal of ``values`` (``{"a","b",NULL}``), which psycopg2 sends
    as one quoted string instead of adapting every element; values of another type are left
    to psycopg2 (the list itself)."""
    if {type(v) for v in values} <= {str, type(None)}:        # text: the common column
        return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"
    rendered: dict[int, str] = {}
    out = []
    try:
        for value in values:
            key = id(value)
            if key not in rendered:
                rendered[key] = _array_element(value)
            out.append(rendered[key])
    except TypeError:
        return values
    return "{" + ",".join(out) + "}"


def kit_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Add the outbox, its archive ``outbox_sent`` and the inbox (applied event ids) to a
    service's metadata.

    ``outbox`` holds only what is not yet relayed: the relay moves each confirmed batch into
    ``outbox_sent`` (kept ``OUTBOX_RETAIN_DAYS``, then purged). A queue table that kept its
    sent rows grew without end, and its index of unsent rows filled with dead entries that
    every relay round had to step over (``crmkit.outbox``)."""
    outbox = sa.Table(
        "outbox", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL"),
                 sqlite_where=sa.text("sent_at IS NULL")),
    )
    inbox = sa.Table(
        "inbox", metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    # keyed by event id: SQLite gives an emptied outbox's next row the id 1 again
    outbox_sent = sa.Table(
        "outbox_sent", metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_outbox_sent_sent_at", "sent_at"),
    )
    return outbox, outbox_sent, inbox


def migrate(engine: Engine, script_location: Path, version_table: str) -> None:
    """Upgrade the store to the newest revision; replicas starting together take turns."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["version_table"] = version_table
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_lock(hashtext(%s))", (version_table,))
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_unlock(hashtext(%s))", (version_table,))
                conn.commit()
    log.info("schema migrated", extra={"version_table": version_table})
