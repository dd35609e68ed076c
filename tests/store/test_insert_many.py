"""``crmkit.db.insert_many`` stores exactly what an executemany of the same rows stores."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crmkit.db import insert_many
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
