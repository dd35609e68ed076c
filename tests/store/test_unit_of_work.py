"""The unit of work, the outbox and the inbox on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading
import uuid

import kombu
import pytest
import sqlalchemy as sa

from crmkit.errors import Conflict
from crmkit.outbox import PublishFailed
from crmkit.principal import Principal
from services.leads import handlers

REP = Principal(user_id="rep1", username="rep1", role="sales", data_scope="own",
                visible_user_ids=frozenset({"rep1"}))


def outbox_rows(store):
    """Every event the store committed, in order: those relayed (``outbox_sent``, with
    ``sent_at``), then those not yet (``outbox``)."""
    sent, unsent = store.outbox_sent, store.outbox
    with store.engine.connect() as conn:
        return [*conn.execute(sa.select(sent.c.type, sent.c.sent_at)
                              .order_by(sent.c.sent_at, sent.c.id)).all(),
                *conn.execute(sa.select(unsent.c.type, unsent.c.sent_at)
                              .order_by(unsent.c.id)).all()]


def table_count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_migrations_are_idempotent(leads_store):
    leads_store.migrate()  # second run: nothing to do, no error
    assert {"leads", "outbox", "outbox_sent", "inbox"} <= set(
        sa.inspect(leads_store.engine).get_table_names())


def test_event_is_written_in_the_same_transaction_as_the_change(leads_store):
    with leads_store.unit(actor_id="rep1") as uow:
        lead = handlers.create_lead(uow, REP, {"name": "张伟", "company": "上海星辰科技有限公司"})
    assert [r.type for r in outbox_rows(leads_store)] == ["lead.created"]
    with pytest.raises(RuntimeError):
        with leads_store.unit() as uow:
            handlers.claim_lead(uow, REP, lead["id"])
            raise RuntimeError("crash after the change, before the commit")
    # neither the claim nor its event exist
    assert [r.type for r in outbox_rows(leads_store)] == ["lead.created"]
    with leads_store.unit() as uow:
        assert handlers.get_lead(uow, REP, lead["id"])["owner_id"] is None


def test_inbox_applies_an_event_once(leads_store):
    event = {"id": uuid.uuid4().hex, "type": "customer.created", "data": {}}
    with leads_store.unit() as uow:
        assert uow.first_delivery(event, "leads.test") is True
    with leads_store.unit() as uow:
        assert uow.first_delivery(event, "leads.test") is False
    with leads_store.unit() as uow:  # another consumer in the same service has its own record
        assert uow.first_delivery(event, "leads.other") is True


def test_inbox_takes_a_batch_in_one_go(leads_store):
    """``first_deliveries``: the new ids of a batch, an id repeated inside it new once, ids
    seen before (in an earlier unit) not new; rolled back with its unit."""
    seen = {"id": "e-seen", "type": "lead.created"}
    with leads_store.unit() as uow:
        assert uow.first_delivery(seen, "leads.batch") is True
    batch = [{"id": "e-1", "type": "lead.created"}, seen, {"id": "e-2", "type": "lead.claimed"},
             {"id": "e-1", "type": "lead.created"}]
    with leads_store.unit() as uow:
        assert uow.first_deliveries(batch, "leads.batch") == {"e-1", "e-2"}
        assert uow.first_deliveries(batch, "leads.batch") == set()
        assert uow.first_deliveries(batch, "leads.other") == {"e-1", "e-2", "e-seen"}
        assert uow.first_deliveries([], "leads.batch") == set()
    failed = [{"id": "e-3", "type": "lead.created"}]
    try:
        with leads_store.unit() as uow:
            assert uow.first_deliveries(failed, "leads.batch") == {"e-3"}
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    with leads_store.unit() as uow:
        assert uow.first_deliveries(failed, "leads.batch") == {"e-3"}
        rows = uow.session.execute(sa.text(
            "SELECT event_type FROM inbox WHERE event_id = 'e-2'")).scalars().all()
        assert rows == ["lead.claimed", "lead.claimed"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_snapshot_unit_reads_one_state_of_the_database(leads_store):
    """``snapshot()``: a lead committed by another unit between two reads of a snapshot unit
    is not seen by the second read (READ COMMITTED would see it). PostgreSQL only: the
    SQLite store has one connection, so no second unit can write meanwhile."""
    def count(uow):
        return uow.session.execute(sa.text("SELECT count(*) FROM leads")).scalar_one()

    with leads_store.unit() as reader:
        reader.snapshot()
        before = count(reader)
        with leads_store.unit(actor_id="rep1") as writer:
            handlers.create_lead(writer, REP, {"name": f"快照{uuid.uuid4().hex[:6]}"})
        assert count(reader) == before
    with leads_store.unit() as reader:
        assert count(reader) == before + 1


def test_duplicate_lead_is_refused_with_the_existing_id(leads_store):
    with leads_store.unit() as uow:
        first = handlers.create_lead(uow, REP, {"name": "李娜", "phone": "+86-139-1234-5678"})
    with pytest.raises(Conflict) as err:
        with leads_store.unit() as uow:
            handlers.create_lead(uow, REP, {"name": "李娜", "phone": "139 1234 5678"})
    assert err.value.code == "duplicate_lead"
    assert err.value.details == {"existing_id": first["id"]}


def test_keyset_pagination_walks_every_lead_once(leads_store):
    with leads_store.unit() as uow:
        for i in range(23):
            handlers.create_lead(uow, REP, {"name": f"客户{i}", "phone": f"1380000{i:04d}"})
    seen, cursor = [], None
    while True:
        with leads_store.unit() as uow:
            page = handlers.list_leads(uow, REP, scope="pool", cursor=cursor, limit=10)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 23 and len(set(seen)) == 23
    assert seen == sorted(seen, reverse=True)  # newest first


def test_concurrent_claims_have_exactly_one_winner(leads_store):
    with leads_store.unit() as uow:
        lead = handlers.create_lead(uow, REP, {"name": "王芳", "email": "wf@example.cn"})
    reps = [Principal(user_id=f"rep{i}", role="sales", visible_user_ids=frozenset({f"rep{i}"}))
            for i in range(20)]
    results: list[str] = []
    barrier = threading.Barrier(len(reps))

    def claim(principal):
        barrier.wait()
        try:
            with leads_store.unit(actor_id=principal.user_id) as uow:
                handlers.claim_lead(uow, principal, lead["id"])
            results.append("won")
        except Conflict as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=claim, args=(p,)) for p in reps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("won") == 1
    assert results.count("lead_already_claimed") == 19
    assert [r.type for r in outbox_rows(leads_store)].count("lead.claimed") == 1


def test_relay_publishes_with_confirms_then_moves_the_events_to_the_archive(leads_store):
    exchange = kombu.Exchange("leads.events", type="topic", durable=True)
    queue = kombu.Queue(f"test.relay.{uuid.uuid4().hex[:8]}", exchange, routing_key="lead.#",
                        auto_delete=True)
    with kombu.Connection("pyamqp://guest:guest@127.0.0.1:5672//") as conn:
        queue(conn.default_channel).declare()
        with leads_store.unit(actor_id="rep1", correlation_id="corr-1") as uow:
            handlers.create_lead(uow, REP, {"name": "赵磊", "company": "杭州云帆网络"})
        assert leads_store.relay.relay_once() == 1
        assert table_count(leads_store, leads_store.outbox) == 0     # the outbox: unsent only
        assert [(r.type, r.sent_at is not None) for r in outbox_rows(leads_store)] == [
            ("lead.created", True)]
        message = queue(conn.default_channel).get(no_ack=True)
        body = json.loads(message.body)
        assert body["type"] == "lead.created" and body["correlation_id"] == "corr-1"
        assert message.headers["nameko.correlation_id"] == "corr-1"
        assert leads_store.relay.relay_once() == 0  # nothing left, nothing sent twice


def test_relay_counts_its_backlog_at_most_once_a_second(leads_store, monkeypatch):
    from crmkit import metrics, outbox

    gauge = metrics.OUTBOX_BACKLOG.labels("leads")
    clock = [1000.0]
    monkeypatch.setattr(outbox.time, "monotonic", lambda: clock[0])
    relay = leads_store.relay
    relay.batch_size = 1                          # one event per round: one stays behind
    with leads_store.unit() as uow:
        handlers.create_lead(uow, REP, {"name": "周一", "phone": "13900000001"})
        handlers.create_lead(uow, REP, {"name": "周二", "phone": "13900000002"})
    relay.publisher.publish_batch = lambda messages: None   # the relay's rounds, no broker
    assert relay.relay_once() == 1
    assert gauge._value.get() == 1                # counted: one event left
    assert relay.relay_once() == 1
    assert gauge._value.get() == 1                # the same second: not counted again
    clock[0] += outbox.BACKLOG_EVERY
    assert relay.relay_once() == 0
    assert gauge._value.get() == 0                # a second later: counted


def test_relay_keeps_events_when_the_broker_is_unreachable(leads_store):
    from crmkit.outbox import ConfirmingPublisher

    leads_store.relay.publisher = ConfirmingPublisher("pyamqp://guest:guest@127.0.0.1:5999//")
    with leads_store.unit() as uow:
        handlers.create_lead(uow, REP, {"name": "孙丽"})
    with pytest.raises(PublishFailed):
        leads_store.relay.relay_once()
    assert [r.sent_at for r in outbox_rows(leads_store)] == [None]


def _archived(store, days_ago: list[float]) -> None:
    from crmkit import timeutil

    now = timeutil.now()
    with store.engine.begin() as conn:
        conn.execute(store.outbox_sent.insert(), [
            {"id": n + 1, "event_id": uuid.uuid4().hex, "type": "lead.created", "payload": "{}",
             "created_at": now - timeutil.days(age), "sent_at": now - timeutil.days(age)}
            for n, age in enumerate(days_ago)])


def test_the_archive_is_purged_after_the_retention_in_short_transactions(leads_store,
                                                                         monkeypatch):
    from crmkit import outbox

    monkeypatch.setattr(outbox, "PURGE_CHUNK", 2)      # 5 old rows: 3 transactions
    _archived(leads_store, [30, 9, 8, 7.5, 7.01, 6.9, 1, 0])
    assert leads_store.relay.purge_sent(7) == 5
    with leads_store.engine.connect() as conn:
        kept = conn.execute(sa.select(leads_store.outbox_sent.c.id)
                            .order_by(leads_store.outbox_sent.c.sent_at)).scalars().all()
    assert kept == [6, 7, 8]                           # 6.9, 1 and 0 days old
    assert leads_store.relay.purge_sent(7) == 0


def test_relay_housekeeping_vacuums_the_outbox_after_relaying_at_most_once_a_second(
        leads_store, monkeypatch):
    from crmkit import outbox

    relay = leads_store.relay
    vacuums: list[float] = []
    purges: list[int] = []
    clock = [1000.0]
    monkeypatch.setattr(outbox.time, "monotonic", lambda: clock[0])
    real_vacuum = relay.vacuum
    monkeypatch.setattr(relay, "vacuum", lambda: (vacuums.append(clock[0]), real_vacuum()))
    monkeypatch.setattr(relay, "purge_sent", lambda days: purges.append(days) or 0)
    relay.publisher.publish_batch = lambda messages: None   # the relay's rounds, no broker
    postgresql = leads_store.engine.dialect.name == "postgresql"

    relay._housekeeping()                       # first round: purge due, nothing relayed yet
    assert (vacuums, purges) == ([], [7])
    with leads_store.unit() as uow:
        handlers.create_lead(uow, REP, {"name": "吴一", "phone": "13900000011"})
    assert relay.relay_once() == 1
    relay._housekeeping()
    assert vacuums == ([1000.0] if postgresql else [])   # SQLite deletes its entries itself
    with leads_store.unit() as uow:
        handlers.create_lead(uow, REP, {"name": "吴二", "phone": "13900000012"})
    assert relay.relay_once() == 1
    relay._housekeeping()
    assert len(vacuums) == (1 if postgresql else 0)      # the same second: not again
    clock[0] += outbox.VACUUM_EVERY
    relay._housekeeping()
    assert len(vacuums) == (2 if postgresql else 0)
    clock[0] += outbox.VACUUM_EVERY
    relay._housekeeping()
    assert len(vacuums) == (2 if postgresql else 0)      # nothing relayed since: no VACUUM
    assert purges == [7]                                  # the purge: every PURGE_EVERY
    clock[0] += outbox.PURGE_EVERY
    relay._housekeeping()
    assert purges == [7, 7]


def test_relay_housekeeping_failure_is_logged_and_relaying_goes_on(leads_store, monkeypatch,
                                                                   caplog):
    relay = leads_store.relay

    def broken(days):
        raise sa.exc.OperationalError("DELETE", {}, Exception("disk full"))

    monkeypatch.setattr(relay, "purge_sent", broken)
    relay.publisher.publish_batch = lambda messages: None
    with leads_store.unit() as uow:
        handlers.create_lead(uow, REP, {"name": "郑一"})
    relay._housekeeping()
    assert "outbox housekeeping failed" in caplog.text
    assert relay.relay_once() == 1


def test_upgrade_moves_the_rows_an_earlier_relay_marked_sent_to_the_archive(database_url):
    """Revision 0006 on a store whose outbox still keeps its sent rows."""
    from alembic import command
    from alembic.config import Config

    from crmkit.uow import Store
    from services.leads.models import Base
    from tests.store.conftest import AMQP, LEADS_MIGRATIONS

    store = Store("leads", Base.metadata, LEADS_MIGRATIONS, database_url, AMQP, relay=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(LEADS_MIGRATIONS))
    cfg.attributes["version_table"] = "alembic_version_leads"
    try:
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
            conn.exec_driver_sql(
                "INSERT INTO outbox (id, event_id, type, payload, created_at, sent_at) VALUES "
                "(1, 'e1', 'lead.created', '{}', '2026-11-01 08:00:00+00', "
                "'2026-11-01 08:00:01+00'), "
                "(2, 'e2', 'lead.claimed', '{}', '2026-11-01 09:00:00+00', NULL)")
        store.migrate()
        with store.engine.connect() as conn:
            left = conn.exec_driver_sql("SELECT event_id, sent_at FROM outbox").all()
            moved = conn.exec_driver_sql("SELECT id, event_id, type FROM outbox_sent").all()
        assert [(e, s) for e, s in left] == [("e2", None)]
        assert [tuple(r) for r in moved] == [(1, "e1", "lead.created")]
        with store.engine.begin() as conn:               # and back down: sent rows again
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        with store.engine.connect() as conn:
            back = conn.exec_driver_sql("SELECT event_id FROM outbox ORDER BY id").scalars()
            assert list(back) == ["e1", "e2"]
    finally:
        store.engine.dispose()
