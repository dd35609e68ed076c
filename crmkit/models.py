"""Column helpers shared by the services' SQLAlchemy models."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from crmkit import timeutil
from crmkit.ids import new_id


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which drops the offset) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(timeutil.UTC)

    def process_result_value(self, value, dialect):
        return timeutil.aware(value)


Money = sa.Numeric(18, 2)


def id_column() -> Mapped[str]:
    return mapped_column(sa.String(32), primary_key=True, default=new_id)


def created_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=timeutil.now)


def updated_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=timeutil.now,
                         onupdate=timeutil.now)


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"
