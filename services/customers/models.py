"""The customers service's store (owned by this service alone)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.db import kit_tables
from crmkit.models import Money, UTCDateTime, created_column, id_column, updated_column


class Base(DeclarativeBase):
    pass


kit_tables(Base.metadata)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[str] = mapped_column(sa.String(20), default="company")
    industry: Mapped[str | None] = mapped_column(sa.String(100))
    region: Mapped[str | None] = mapped_column(sa.String(100))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    website: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str | None] = mapped_column(sa.String(20))
    level: Mapped[str] = mapped_column(sa.String(1), default="C")
    status: Mapped[str] = mapped_column(sa.String(20), default="potential")
    owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    lead_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    name_norm: Mapped[str | None] = mapped_column(sa.String(200))
    phone_norm: Mapped[str | None] = mapped_column(sa.String(40))
    email_norm: Mapped[str | None] = mapped_column(sa.String(200))
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
    # the public pool (客户公海) and merges
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    last_deal_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    # customer value from analytics (``customer.value_changed``): pyramid tier, RFM scores
    # ("545" = R 5, F 4, M 5), the churn-risk flag; ``value_as_of`` = the applied event's time
    value_tier: Mapped[str | None] = mapped_column(sa.String(20))
    rfm: Mapped[str | None] = mapped_column(sa.String(3))
    churn_risk: Mapped[bool] = mapped_column(sa.Boolean, default=False,
                                             server_default=sa.false())
    churn_reason: Mapped[str | None] = mapped_column(sa.String(40))
    value_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_customers_owner", "owner_id", "id"),
        sa.Index("ix_customers_value_tier", "value_tier"),
        sa.Index("ix_customers_name_norm", "name_norm"),
        sa.Index("ix_customers_phone_norm", "phone_norm"),
        sa.Index("ix_customers_email_norm", "email_norm"),
    )


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("customers.id"),
                                             index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    is_primary: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = created_column()

    __table_args__ = (
        # exactly one primary contact per customer, enforced by the store as well
        sa.Index("uq_contacts_one_primary", "customer_id", unique=True,
                 postgresql_where=sa.text("is_primary"), sqlite_where=sa.text("is_primary")),
    )


class CustomerAction(Base):
    """操作记录: who changed what on a customer, from what to what."""

    __tablename__ = "customer_actions"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    actor_id: Mapped[str | None] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(40))
    field: Mapped[str | None] = mapped_column(sa.String(40))
    from_value: Mapped[str | None] = mapped_column(sa.Text)
    to_value: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FollowUp(Base):
    """A follow-up record (跟进记录): a call, a visit... that happened."""

    __tablename__ = "follow_ups"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    author_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(20))
    content: Mapped[str] = mapped_column(sa.Text)
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = created_column()


class FollowUpPlan(Base):
    """A follow-up / visit plan (跟进计划 / 拜访计划) on the owner's calendar."""

    __tablename__ = "follow_up_plans"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(20))
    subject: Mapped[str] = mapped_column(sa.String(200))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), default="planned")
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.Index("ix_plans_owner_time", "owner_id", "scheduled_at"),
        sa.Index("ix_plans_due", "scheduled_at", postgresql_where=sa.text(
            "status = 'planned' AND reminded_at IS NULL"), sqlite_where=sa.text(
            "status = 'planned' AND reminded_at IS NULL")),
    )


class CustomerContract(Base):
    """Contracts seen signed for a customer (``contract.signed``, once per contract)."""

    __tablename__ = "customer_contracts"

    contract_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    number: Mapped[str | None] = mapped_column(sa.String(64))
    total: Mapped[Decimal | None] = mapped_column(Money)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CreditLimitChange(Base):
    """信用额度 history: every change with its reason."""

    __tablename__ = "credit_limit_changes"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    from_limit: Mapped[Decimal] = mapped_column(Money)
    to_limit: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(sa.String(500))
    actor_id: Mapped[str | None] = mapped_column(sa.String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PoolRulesRow(Base):
    """The customer public pool's rules (one row, ``id = 'default'``)."""

    __tablename__ = "customer_pool_rules"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    rules: Mapped[dict] = mapped_column(sa.JSON)
    updated_by: Mapped[str | None] = mapped_column(sa.String(32))
    updated_at: Mapped[datetime] = updated_column()


class Segment(Base):
    """A saved customer filter (客户分群) for one-to-one marketing (一对一营销).

    ``filters`` is the validated ``SegmentFilters`` dict; members are evaluated live, in the
    reader's data scope. A shared segment is readable by every user; a private one by its
    owner and whoever sees the owner's records."""

    __tablename__ = "segments"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    team_id: Mapped[str | None] = mapped_column(sa.String(32))
    shared: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    filters: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.UniqueConstraint("owner_id", "name", name="uq_segments_owner_name"),
        sa.Index("ix_segments_shared", "shared", "id"),
    )
