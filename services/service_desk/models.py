"""The service desk's store (owned by this service alone)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.db import kit_tables
from crmkit.models import UTCDateTime, created_column, id_column, updated_column


class Base(DeclarativeBase):
    pass


kit_tables(Base.metadata)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    contact_id: Mapped[str | None] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(10))
    category: Mapped[str] = mapped_column(sa.String(20))
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    owner_id: Mapped[str] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    assignee_id: Mapped[str | None] = mapped_column(sa.String(32))
    first_response_due: Mapped[datetime] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.Index("ix_tickets_owner", "owner_id", "id"),
        sa.Index("ix_tickets_assignee", "assignee_id", "id"),
        sa.Index("ix_tickets_customer", "customer_id", "id"),
        sa.Index("ix_tickets_status", "status", "id"),
        sa.Index("ix_tickets_resolution_due", "resolution_due"),
    )


class TicketSequence(Base):
    """The last ticket number handed out per business year (TK-<year>-<n>)."""

    __tablename__ = "ticket_sequences"

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(sa.Integer)
