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
