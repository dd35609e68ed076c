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

    __table_args__ = (
        sa.Index("ix_customers_owner", "owner_id", "id"),
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
