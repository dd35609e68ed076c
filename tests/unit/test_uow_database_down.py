"""A database that cannot be reached is a 503 (``ServiceUnavailable``), never a 500.

The fault tests stop a real PostgreSQL under load (``tests/faults``); these pin the rule
itself: which errors count as "the database is unavailable", and that a unit of work
turns them into ``ServiceUnavailable`` while leaving every other error alone.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg2
import psycopg2.errors as pge
import pytest
import sqlalchemy as sa

from crmkit.db import database_unavailable, kit_tables
from crmkit.errors import Conflict, ServiceUnavailable
from crmkit.uow import Store
from tests.cluster import free_port


def wrapped(cls, orig):
    return cls("SELECT 1", {}, orig)


def server_error(cls, pgcode: str):
    """A psycopg2 error as the server sends it (its SQLSTATE set, as unpickling does)."""
    error = cls("from the server")
    error.__setstate__({"pgcode": pgcode, "pgerror": "from the server", "cursor": None})
    return error


@pytest.mark.parametrize("error, expected", [
    (wrapped(sa.exc.OperationalError, psycopg2.OperationalError("connection refused")), True),
    (wrapped(sa.exc.OperationalError, psycopg2.OperationalError("server closed the connection")),
     True),
    (wrapped(sa.exc.InterfaceError, psycopg2.InterfaceError("connection already closed")), True),
    (wrapped(sa.exc.OperationalError, server_error(pge.AdminShutdown, "57P01")),
     True),
    (wrapped(sa.exc.OperationalError, server_error(pge.CannotConnectNow, "57P03")), True),
    (sa.exc.TimeoutError("QueuePool limit of size 10 overflow 5 reached"), True),
    (wrapped(sa.exc.OperationalError, server_error(pge.DeadlockDetected, "40P01")), False),
    (wrapped(sa.exc.OperationalError, server_error(pge.QueryCanceled, "57014")), False),
    (wrapped(sa.exc.IntegrityError, server_error(pge.UniqueViolation, "23505")), False),
    (wrapped(sa.exc.ProgrammingError, server_error(pge.UndefinedTable, "42P01")), False),
    (wrapped(sa.exc.OperationalError, sqlite3.OperationalError("database is locked")), False),
    (wrapped(sa.exc.OperationalError, sqlite3.OperationalError("no such table: x")), False),
    (Conflict("taken"), False),
    (ValueError("x"), False),
])
def test_which_errors_mean_the_database_is_unavailable(error, expected):
    assert database_unavailable(error) is expected


def test_invalidated_connection_counts_as_unavailable():
    error = wrapped(sa.exc.OperationalError, psycopg2.OperationalError("eof"))
    error.connection_invalidated = True
    assert database_unavailable(error)


def store(url: str) -> Store:
    metadata = sa.MetaData()
    kit_tables(metadata)
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return Store("things", metadata, Path("."), url, "amqp://unused", relay=False)


def test_a_unit_of_work_on_an_unreachable_server_raises_service_unavailable():
    down = store(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")  # nobody listens
    with pytest.raises(ServiceUnavailable) as raised:
        with down.unit() as uow:
            uow.session.execute(sa.text("SELECT 1"))
    assert raised.value.status == 503 and raised.value.details == {"service": "things"}
    assert isinstance(raised.value.__cause__, sa.exc.OperationalError)


def test_other_errors_pass_through_unchanged(tmp_path):
    local = store(f"sqlite:///{tmp_path}/things.db")
    with pytest.raises(sa.exc.OperationalError):             # a bug, not an outage: 500
        with local.unit() as uow:
            uow.session.execute(sa.text("SELECT * FROM no_such_table"))
    with pytest.raises(Conflict):
        with local.unit() as uow:
            uow.session.execute(sa.text("SELECT 1"))
            raise Conflict("taken")
