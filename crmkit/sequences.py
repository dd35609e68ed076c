"""Gap-free, race-free document numbers (TK-2026-000001, HT-2026-000123, ...).

A service keeps a counter table ``(key primary key, last_value)``; ``next_value`` takes the
next number for a key with one atomic upsert in the caller's transaction. Concurrent callers
(any number of replicas) queue on that row's lock, no two get the same number, and a
rolled-back document gives its number back.
"""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def next_value(session, model, key_column, value_column, key) -> int:
    dialect = session.bind.dialect.name
    try:
        insert = _UPSERTS[dialect]
    except KeyError:
        raise RuntimeError(f"sequences need PostgreSQL or SQLite, not {dialect}") from None
    stmt = (insert(model).values({key_column.key: key, value_column.key: 1})
            .on_conflict_do_update(index_elements=[key_column],
                                   set_={value_column.key: value_column + 1})
            .returning(value_column))
    return session.execute(stmt).scalar_one()


def document_number(prefix: str, year: int, value: int) -> str:
    return f"{prefix}-{year}-{value:06d}"
