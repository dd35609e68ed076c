"""The PostgreSQL engine: no ping per checkout, but a connection idle too long is checked."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from crmkit import db
from tests.pg import create_database, drop_database


@pytest.fixture
def pg_engine(monkeypatch):
    url = create_database("crm_engine")
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.3)
    engine = db.make_engine(url, pool_size=2)
    yield engine
    engine.dispose()
    drop_database(url)


def _count_statements(engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_a: seen.append(statement))
    return seen


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_busy_connection_is_not_pinged(pg_engine):
    _backend_pid(pg_engine)
    statements = _count_statements(pg_engine)
    for _ in range(20):
        with pg_engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 42").scalar_one() == 42
    assert statements == ["SELECT 42"] * 20
    assert pg_engine.pool._pre_ping is False    # no SQLAlchemy ping round trip per checkout


def test_an_idle_connection_killed_by_the_server_is_replaced_unseen(pg_engine):
    first = _backend_pid(pg_engine)
    killer = sa.create_engine(pg_engine.url, poolclass=sa.pool.NullPool)
    with killer.connect() as admin:         # outside the pool: the server drops the connection
        admin.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        admin.commit()
    killer.dispose()
    time.sleep(0.5)                         # longer than PING_IDLE_SECONDS: pinged on checkout
    with pg_engine.connect() as conn:       # no error reaches the caller
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != first
