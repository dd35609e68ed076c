"""Analytics' batch writes against SQLite and a real PostgreSQL: a batch must leave the read
models exactly as one event per transaction does, on each store."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmkit.db import insert_many
from crmkit.uow import Store
from services.analytics import handlers, projections
from services.analytics.models import Base, LeadState
from tests.pg import create_database, drop_database
from tests.unit import test_analytics_projections as projection_tests
from tests.unit.test_analytics_projections import T0, Events, deliver, snapshot

MIGRATIONS = Path(handlers.__file__).parent / "migrations"


@pytest.fixture
def stores(database_url, tmp_path):
    """Two migrated analytics stores of the parameter's kind (SQLite or PostgreSQL)."""
    urls = [database_url]
    if database_url.startswith("postgresql"):
        urls.append(create_database("crm_store"))
    else:
        urls.append(f"sqlite:///{tmp_path}/other.db")
    made = [Store("analytics", Base.metadata, MIGRATIONS, url, "memory://", relay=False)
            for url in urls]
    for store in made:
        store.migrate()
    yield made
    for store in made:
        store.engine.dispose()
    if urls[1].startswith("postgresql"):
        drop_database(urls[1])


def lead_story() -> list[dict]:
    """The unit tier's lead story, then one lead converted."""
    e = Events()
    return [*projection_tests.lead_story(e),
            e("lead.converted", {"lead_id": "L014", "status": "converted"},
              T0 + timedelta(minutes=3))]


def test_lead_batches_of_any_size_write_what_one_event_at_a_time_writes(stores):
    """``_write_leads`` on PostgreSQL: one ``insert_many … ON CONFLICT`` statement per round
    whatever its row count (a ``VALUES`` list per row count was a statement of its own, each
    cached with a bind parameter per value); on SQLite, ``VALUES`` lists."""
    one_by_one, batched = stores
    story = lead_story()
    for body in story:
        deliver(one_by_one, body)
    projections._lead_upsert.cache_clear()    # (the SQLite run before this one filled it)
    start, size = 0, 1
    while start < len(story):                 # batches of 1, 2, 3, … events
        with batched.unit() as uow:
            handlers.record_events(uow, [handlers.parse_event(b)
                                         for b in story[start:start + size]])
        start, size = start + size, size + 1
    with batched.unit() as uow:               # every event again: each a no-op (inbox)
        assert handlers.record_events(uow, [handlers.parse_event(b) for b in story]) == []
    assert snapshot(batched) == snapshot(one_by_one)
    with batched.engine.connect() as conn:
        rows = {r.lead_id: r for r in conn.execute(sa.select(LeadState.__table__))}
    assert len(rows) == 230
    assert (rows["L014"].owner_id, rows["L014"].status) == ("B", "converted")
    assert rows["L014"].converted_at is not None and rows["L013"].converted_at is None
    assert (rows["L007"].name, rows["L007"].owner_id) == ("李娜", "B")
    assert (rows["L015"].owner_id, rows["L015"].status) == ("u0", "new")
    if batched.engine.dialect.name == "postgresql":
        assert projections._lead_upsert.cache_info().currsize == 0


def test_insert_many_on_conflict_is_for_postgresql_only(stores):
    store = stores[0]
    row = {"lead_id": "L1", "created_at": T0, "updated_at": T0, "last_event_id": "e1",
           "converted_at": None, "name": "张伟"}
    conflict = projections._lead_conflict(("name",))
    with store.unit() as uow:
        if store.engine.dialect.name != "postgresql":
            with pytest.raises(ValueError):
                insert_many(uow.session, LeadState.__table__, [row], on_conflict=conflict)
            return
        insert_many(uow.session, LeadState.__table__, [row], on_conflict=conflict)
        insert_many(uow.session, LeadState.__table__,   # newer: its name wins
                    [{**row, "updated_at": T0 + timedelta(seconds=1), "last_event_id": "e2",
                      "name": "李娜"}], on_conflict=conflict)
        insert_many(uow.session, LeadState.__table__,   # older: kept out
                    [{**row, "created_at": T0 - timedelta(days=1), "last_event_id": "e0",
                      "name": "王芳"}], on_conflict=conflict)
    with store.engine.connect() as conn:
        state = conn.execute(sa.select(LeadState.__table__)).one()
    assert (state.name, state.last_event_id) == ("李娜", "e2")
    assert state.created_at == T0 - timedelta(days=1)     # the earliest creation kept
