"""Store tier: the kit and the services' use cases against real databases.

Every test here runs twice, on SQLite (the embedded default) and on a real PostgreSQL
(a throw-away database per test), with the same code — no mocks of either. The outbox relay
tests publish to the real RabbitMQ. No eventlet here: plain threads exercise concurrency.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from crmkit.uow import Store
from services.leads.models import Base as LeadsBase
from tests.pg import create_database, drop_database

AMQP = "pyamqp://guest:guest@127.0.0.1:5672//"
LEADS_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "leads" / "migrations"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    url = create_database("crm_store")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def leads_store(database_url):
    store = Store("leads", LeadsBase.metadata, LEADS_MIGRATIONS, database_url, AMQP, pool_size=30)
    store.migrate()
    yield store
    if store.relay:
        store.relay.publisher.close()
    store.engine.dispose()
