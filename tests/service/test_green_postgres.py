"""PostgreSQL under eventlet: the driver must yield to the hub while the server works."""
from __future__ import annotations

import time
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa

from crmkit.uow import Store
from services.leads.models import Base
from tests.pg import create_database, drop_database

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "leads" / "migrations"


@pytest.fixture
def pg_store():
    url = create_database("crm_green")
    store = Store("leads", Base.metadata, MIGRATIONS, url, "pyamqp://guest@127.0.0.1//",
                  pool_size=12, relay=False)
    store.migrate()
    yield store
    store.engine.dispose()
    drop_database(url)


def test_ten_slow_queries_overlap_instead_of_queueing(pg_store):
    """10 × pg_sleep(0.5) in green threads: ~0.5 s if the hub is free, 5 s if psycopg2 blocks."""

    def slow():
        with pg_store.unit() as uow:
            uow.session.execute(sa.text("SELECT pg_sleep(0.5)"))

    ticks = []

    def heartbeat():                     # the hub keeps running other green threads meanwhile
        for _ in range(10):
            ticks.append(time.monotonic())
            eventlet.sleep(0.05)

    started = time.monotonic()
    pool = eventlet.GreenPool(11)
    pool.spawn(heartbeat)
    for _ in range(10):
        pool.spawn(slow)
    pool.waitall()
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"queries ran one after another ({elapsed:.2f}s): the driver blocks"
    assert len(ticks) == 10 and ticks[-1] - ticks[0] < 1.5
