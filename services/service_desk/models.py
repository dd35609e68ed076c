"""The service desk's store (owned by this service alone)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.db import kit_tables
from crmkit.models import Money, UTCDateTime, created_column, id_column, updated_column

Quantity = sa.Numeric(18, 3)


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
    first_response_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manager_id: Mapped[str | None] = mapped_column(sa.String(32))  # the assignee's manager
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_minutes: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopened_count: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    satisfaction_score: Mapped[int | None] = mapped_column(sa.Integer)
    satisfaction_comment: Mapped[str | None] = mapped_column(sa.Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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


class TicketComment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("tickets.id"))
    author_id: Mapped[str | None] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    internal: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = created_column()

    __table_args__ = (sa.Index("ix_ticket_comments_ticket", "ticket_id", "id"),)


class SlaAlert(Base):
    """One row per (ticket, target, level) raised: the periodic job's once-only guard."""

    __tablename__ = "sla_alerts"

    ticket_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    target: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    level: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlaPolicy(Base):
    """An override of the default SLA of a priority (category ``*`` = every category)."""

    __tablename__ = "sla_policies"

    priority: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    first_response_minutes: Mapped[int] = mapped_column(sa.Integer)
    resolution_minutes: Mapped[int] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = updated_column()


class CalendarDay(Base):
    """A holiday (节假日, a day off) or a make-up working day (调休) of the business calendar."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # holiday | workday
    name: Mapped[str | None] = mapped_column(sa.String(100))
    updated_at: Mapped[datetime] = updated_column()


class Contract(Base):
    """Projection of the sales service's signed contracts (from ``contract.signed``)."""

    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    number: Mapped[str | None] = mapped_column(sa.String(40))
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    total: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContractLine(Base):
    __tablename__ = "contract_lines"

    line_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"),
                                             index=True)
    product_id: Mapped[str | None] = mapped_column(sa.String(32))
    sku: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal | None] = mapped_column(Money)


class Return(Base):
    __tablename__ = "returns"

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"))
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(12), default="requested")
    outcome: Mapped[str | None] = mapped_column(sa.String(12))  # rejected|refunded|replaced
    owner_id: Mapped[str] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    contract_owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    total_value: Mapped[Decimal] = mapped_column(Money)
    refund_amount: Mapped[Decimal | None] = mapped_column(Money)
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.Index("ix_returns_owner", "owner_id", "id"),
        sa.Index("ix_returns_customer", "customer_id", "id"),
        sa.Index("ix_returns_contract", "contract_id"),
    )


class ReturnLine(Base):
    __tablename__ = "return_lines"

    id: Mapped[str] = id_column()
    return_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("returns.id"),
                                           index=True)
    line_id: Mapped[str] = mapped_column(sa.String(32))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str | None] = mapped_column(sa.String(500))


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    contract_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12), default="scheduled")
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assignee_id: Mapped[str] = mapped_column(sa.String(32))
    owner_id: Mapped[str] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    workload_hours: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 2))
    result: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.Index("ix_work_orders_assignee_time", "assignee_id", "scheduled_at"),
        sa.Index("ix_work_orders_owner", "owner_id", "id"),
        sa.Index("ix_work_orders_customer", "customer_id", "id"),
    )


class DocumentSequence(Base):
    """The last number handed out per document prefix and business year (RT-2026, WO-2026)."""

    __tablename__ = "document_sequences"

    key: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    last_value: Mapped[int] = mapped_column(sa.Integer)
