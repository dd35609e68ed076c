"""The sales service's store (owned by this service alone)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.db import kit_tables
from crmkit.models import Money, UTCDateTime, created_column, id_column, updated_column


class Base(DeclarativeBase):
    pass


kit_tables(Base.metadata)


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(sa.String(100))
    name_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        # at most one default pipeline
        sa.Index("ux_pipelines_default", "is_default", unique=True,
                 postgresql_where=sa.text("is_default"), sqlite_where=sa.text("is_default")),
    )


class PipelineStage(Base):
    __tablename__ = "pipeline_stages"

    id: Mapped[str] = id_column()
    pipeline_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("pipelines.id"))
    position: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(50))
    probability: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(10))

    __table_args__ = (
        sa.UniqueConstraint("pipeline_id", "position", name="uq_pipeline_stages_position"),
        sa.UniqueConstraint("pipeline_id", "name", name="uq_pipeline_stages_name"),
    )


class Opportunity(Base):
    __tablename__ = "opportunities"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    expected_close_date: Mapped[date | None] = mapped_column(sa.Date)
    pipeline_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("pipelines.id"))
    stage: Mapped[str] = mapped_column(sa.String(50))
    probability: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    lost_reason: Mapped[str | None] = mapped_column(sa.String(500))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[str] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.Index("ix_opportunities_owner", "owner_id", "id"),
        sa.Index("ix_opportunities_customer", "customer_id", "id"),
        sa.Index("ix_opportunities_status", "status", "id"),
        sa.Index("ix_opportunities_pipeline", "pipeline_id", "stage"),
    )


class StageChange(Base):
    """Every stage an opportunity entered, when and by whom (funnel and sales velocity)."""

    __tablename__ = "opportunity_stage_changes"

    id: Mapped[str] = id_column()
    opportunity_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("opportunities.id"),
                                                index=True)
    from_stage: Mapped[str | None] = mapped_column(sa.String(50))
    to_stage: Mapped[str] = mapped_column(sa.String(50))
    from_probability: Mapped[int | None] = mapped_column(sa.Integer)
    to_probability: Mapped[int] = mapped_column(sa.Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[str | None] = mapped_column(sa.String(32))


Quantity = sa.Numeric(18, 3)
Rate = sa.Numeric(7, 6)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = id_column()
    sku: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(20))
    list_price: Mapped[Decimal] = mapped_column(Money)
    category: Mapped[str | None] = mapped_column(sa.String(100))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    opportunity_id: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    tax_rate: Mapped[Decimal] = mapped_column(Rate)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    valid_until: Mapped[date | None] = mapped_column(sa.Date)
    owner_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class QuoteLine(Base):
    __tablename__ = "quote_lines"

    id: Mapped[str] = id_column()
    quote_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("quotes.id"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    product_id: Mapped[str] = mapped_column(sa.String(32))
    sku: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(20))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount_rate: Mapped[Decimal] = mapped_column(Rate)
    gross: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    quote_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    opportunity_id: Mapped[str | None] = mapped_column(sa.String(32))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    tax_rate: Mapped[Decimal] = mapped_column(Rate)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    owner_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    current_step: Mapped[int | None] = mapped_column(sa.Integer)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class ContractLine(Base):
    __tablename__ = "contract_lines"

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"),
                                             index=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    product_id: Mapped[str] = mapped_column(sa.String(32))
    sku: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(20))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount_rate: Mapped[Decimal] = mapped_column(Rate)
    gross: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)


class ApprovalStep(Base):
    """One level of a contract's approval: who decides, what they decided, when, why."""

    __tablename__ = "contract_approval_steps"

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"),
                                             index=True)
    round: Mapped[int] = mapped_column(sa.Integer)
    level: Mapped[int] = mapped_column(sa.Integer)
    approver_id: Mapped[str] = mapped_column(sa.String(32))
    decision: Mapped[str | None] = mapped_column(sa.String(10))
    comment: Mapped[str | None] = mapped_column(sa.String(1000))
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("contract_id", "round", "level", name="uq_approval_steps_level"),
    )


class DocumentCounter(Base):
    """Per-key counters of document numbers (``HT-2026`` → last number used)."""

    __tablename__ = "document_counters"

    key: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    last_value: Mapped[int] = mapped_column(sa.Integer)


class Instalment(Base):
    """One instalment of a contract's receivable plan (回款计划)."""

    __tablename__ = "receivable_instalments"

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"),
                                             index=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    due_date: Mapped[date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.UniqueConstraint("contract_id", "position", name="uq_instalments_position"),
        sa.Index("ix_instalments_due", "status", "due_date"),
    )


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = id_column()
    instalment_id: Mapped[str] = mapped_column(sa.String(32),
                                               sa.ForeignKey("receivable_instalments.id"),
                                               index=True)
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"),
                                             index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(sa.String(20))
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    recorded_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("contracts.id"),
                                             index=True)
    number: Mapped[str] = mapped_column(sa.String(64), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    issued_on: Mapped[date] = mapped_column(sa.Date)
    issued_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()


class BillingInfo(Base):
    """A customer's billing details (开票信息), kept by finance."""

    __tablename__ = "billing_info"

    customer_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    title: Mapped[str | None] = mapped_column(sa.String(200))
    tax_id: Mapped[str] = mapped_column(sa.String(32))
    bank: Mapped[str | None] = mapped_column(sa.String(200))
    account: Mapped[str | None] = mapped_column(sa.String(64))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    updated_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
