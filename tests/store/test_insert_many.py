"""``crmkit.db.insert_many`` stores exactly what an executemany of the same rows stores."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.orm import Session

from crmkit.db import insert_many, insert_objects
from crmkit.models import Money, UTCDateTime

NASTY = ["", "NULL", "null", '"', "\\", '\\"', "a,b", "{x}", "{", "}", " lead ", "'",
         "张伟，上海", "tab\there", "new\nline", "a\u3000b", "€", "😀", "\\N", ",", '""']


def table(name: str) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("short", sa.String(40)), sa.Column("long", sa.Text),
        sa.Column("data", sa.JSON), sa.Column("flag", sa.Boolean),
        sa.Column("big", sa.BigInteger), sa.Column("at", UTCDateTime),
        sa.Column("day", sa.Date), sa.Column("amount", Money), sa.Column("ratio", sa.Float))


def rows(first: int) -> list[dict]:
    at = datetime(2026, 11, 24, 6, 48, 1, 123456, tzinfo=UTC)
    out = []
    for i, text in enumerate(NASTY):
        out.append({"id": first + i, "short": text, "long": text * 3 if i % 3 else None,
                    "data": {"text": text, "list": [text, i, None, True]} if i % 2 else
                    [text], "flag": bool(i % 2) if i % 5 else None, "big": 2 ** 40 + i,
                    "at": at if i % 4 else at.astimezone(timezone(timedelta(hours=8))),
                    "day": date(2026, 1, 1 + i), "amount": Decimal(f"{i}.05"),
                    "ratio": i / 7 if i % 6 else None})
    return out


def test_insert_many_stores_what_an_executemany_stores(leads_store):
    engine = leads_store.engine
    bulk, plain = table("t_insert_many"), table("t_executemany")
    bulk.create(engine)
    plain.create(engine)
    try:
        with Session(engine) as session:
            insert_many(session, bulk, rows(1))
            insert_many(session, bulk, rows(100)[:1])      # one row
            insert_many(session, bulk, [])                  # nothing
            session.execute(plain.insert(), rows(1) + rows(100)[:1])
            session.commit()
        with engine.connect() as conn:
            got = [tuple(r) for r in conn.execute(sa.select(bulk).order_by(bulk.c.id))]
            want = [tuple(r) for r in conn.execute(sa.select(plain).order_by(plain.c.id))]
        assert len(got) == len(NASTY) + 1
        assert got == want
        assert [r[1] for r in got[:len(NASTY)]] == NASTY
    finally:
        bulk.drop(engine)
        plain.drop(engine)


def _lead_pair():
    from services.leads.models import Lead
    at = datetime(2026, 11, 24, 6, 48, 1, tzinfo=UTC)
    # unset columns with defaults (pool, source, tags, status, locked, created_at, updated_at),
    # one set to None explicitly (status), nasty text, JSON
    return [Lead(id=f"L{i}", name=text, company=text or None, phone="138 0000 0000",
                 status=None, score=i, score_reasons=[text, {"w": i}], claimed_at=at)
            for i, text in enumerate(NASTY)]


def test_insert_objects_stores_what_a_flush_stores_and_fills_the_defaults(leads_store):
    from services.leads.models import Lead
    engine = leads_store.engine
    flushed, inserted = _lead_pair(), _lead_pair()
    for lead in inserted:
        lead.id = "X" + lead.id
    with Session(engine) as session:
        session.add_all(flushed)
        session.flush()
        insert_objects(session, inserted)
        assert not any(lead in session for lead in inserted)    # nothing tracks them
        session.commit()
    for lead in inserted:                   # the defaults, on the objects as after a flush
        assert (lead.pool, lead.source, lead.tags, lead.status, lead.locked) == (
            "default", "other", [], "new", False)
        assert lead.created_at is not None and lead.updated_at is not None
    skip = {"id", "created_at", "updated_at"}
    with engine.connect() as conn:
        rows = {r.id: r._asdict() for r in conn.execute(sa.select(Lead.__table__))}
    assert len(rows) == 2 * len(NASTY)
    for i in range(len(NASTY)):
        want = {k: v for k, v in rows[f"L{i}"].items() if k not in skip}
        got = {k: v for k, v in rows[f"XL{i}"].items() if k not in skip}
        assert got == want
    assert [rows[f"XL{i}"]["name"] for i in range(len(NASTY))] == NASTY


def test_insert_objects_leaves_server_filled_columns_to_the_server(leads_store):
    meta = sa.MetaData()
    t = sa.Table("t_server_default", meta,
                 sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                 sa.Column("n", sa.Integer, server_default=sa.text("7")),
                 sa.Column("name", sa.String(20)))

    class Row:
        def __init__(self, **values):
            self.__dict__.update(values)

    sa.orm.registry().map_imperatively(Row, t)
    t.create(leads_store.engine)
    try:
        with Session(leads_store.engine) as session:
            insert_objects(session, [Row(name="a"), Row(name="b"), Row(name="c")])
            insert_objects(session, [Row(name="d", n=1), Row(name="e", n=2)])
            with pytest.raises(ValueError, match="every object or in none"):
                insert_objects(session, [Row(name="f", n=3), Row(name="g")])
            session.commit()
        with leads_store.engine.connect() as conn:
            got = [tuple(r) for r in conn.execute(sa.select(t.c.name, t.c.n).order_by(t.c.seq))]
        assert got == [("a", 7), ("b", 7), ("c", 7), ("d", 1), ("e", 2)]
    finally:
        t.drop(leads_store.engine)
