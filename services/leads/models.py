"""The leads service's store (owned by this service alone)."""
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


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[str] = id_column()
    pool: Mapped[str] = mapped_column(sa.String(64), default="default", nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100))
    company: Mapped[str | None] = mapped_column(sa.String(200))
    title: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20), default="other")
    region: Mapped[str | None] = mapped_column(sa.String(100))
    industry: Mapped[str | None] = mapped_column(sa.String(100))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(20), default="new")
    owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    previous_owner_id: Mapped[str | None] = mapped_column(sa.String(32))
    reclaim_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_id: Mapped[str | None] = mapped_column(sa.String(32))
    #: the campaign (市场活动) the lead came from, if any (a row of ``campaigns``)
    campaign_id: Mapped[str | None] = mapped_column(sa.String(32))
    locked: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false(),
                                         nullable=False)
    locked_by: Mapped[str | None] = mapped_column(sa.String(32))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: claim + the source's not_converted_days (null: no such rule)
    convert_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the earlier of follow_up_deadline and convert_deadline: what the return job looks at
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the due_at the owner was last warned about (a moved deadline warns again)
    warned_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phone_norm: Mapped[str | None] = mapped_column(sa.String(40))
    email_norm: Mapped[str | None] = mapped_column(sa.String(200))
    company_norm: Mapped[str | None] = mapped_column(sa.String(200))
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
    #: conversion score 0–100 from the newest model analytics published (services/leads/scoring.py)
    score: Mapped[int | None] = mapped_column(sa.Integer)
    score_reasons: Mapped[list | None] = mapped_column(sa.JSON)
    score_model_version: Mapped[int | None] = mapped_column(sa.Integer)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_leads_score", "score", "id"),
        sa.Index("ix_leads_owner", "owner_id", "id"),
        sa.Index("ix_leads_pool", "pool", "status", "id"),
        sa.Index("ix_leads_phone_norm", "phone_norm"),
        sa.Index("ix_leads_email_norm", "email_norm"),
        sa.Index("ix_leads_company_norm", "company_norm"),
        sa.Index("ix_leads_deadline", "follow_up_deadline"),
        sa.Index("ix_leads_due", "due_at"),
        sa.Index("ix_leads_campaign", "campaign_id", "id"),
    )


class LeadClaim(Base):
    """One row per claim: counts today's claims per rep and explains ownership later."""

    __tablename__ = "lead_claims"

    id: Mapped[str] = id_column()
    lead_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("leads.id"))
    owner_id: Mapped[str] = mapped_column(sa.String(32))
    business_day: Mapped[date] = mapped_column(sa.Date)
    claimed_at: Mapped[datetime] = created_column()

    __table_args__ = (sa.Index("ix_lead_claims_owner_day", "owner_id", "business_day"),)


class FollowUp(Base):
    __tablename__ = "lead_follow_ups"

    id: Mapped[str] = id_column()
    lead_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("leads.id"), index=True)
    author_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(20))
    content: Mapped[str] = mapped_column(sa.Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_column()


class PoolRulesRow(Base):
    __tablename__ = "lead_pool_rules"

    pool: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    follow_up_days: Mapped[int] = mapped_column(sa.Integer, default=15)
    max_leads_per_rep: Mapped[int] = mapped_column(sa.Integer, default=200)
    max_claims_per_day: Mapped[int] = mapped_column(sa.Integer, default=50)
    reclaim_cooldown_days: Mapped[int] = mapped_column(sa.Integer, default=7)
    warn_days_before: Mapped[int] = mapped_column(sa.Integer, default=2)
    return_conditions: Mapped[list | None] = mapped_column(sa.JSON)
    updated_by: Mapped[str | None] = mapped_column(sa.String(32))
    updated_at: Mapped[datetime] = updated_column()


class LeadPool(Base):
    """A named public pool; ``default`` exists without a row and has every user as member."""

    __tablename__ = "lead_pools"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    title: Mapped[str | None] = mapped_column(sa.String(100))
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()


class LeadPoolMember(Base):
    __tablename__ = "lead_pool_members"

    pool: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("lead_pools.name"),
                                      primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    added_by: Mapped[str | None] = mapped_column(sa.String(32))
    added_at: Mapped[datetime] = created_column()

    __table_args__ = (sa.Index("ix_lead_pool_members_user", "user_id"),)


class LeadAction(Base):
    """The lead's action log: who changed what, when (one row per changed field)."""

    __tablename__ = "lead_actions"

    id: Mapped[str] = id_column()
    lead_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("leads.id"))
    actor_id: Mapped[str | None] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(40))
    field: Mapped[str | None] = mapped_column(sa.String(40))
    from_value: Mapped[str | None] = mapped_column(sa.Text)
    to_value: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    at: Mapped[datetime] = created_column()

    __table_args__ = (sa.Index("ix_lead_actions_lead", "lead_id", "id"),)


class Campaign(Base):
    """A marketing campaign (市场活动): a channel, a budget and a period; leads name it."""

    __tablename__ = "campaigns"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    channel: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    budget: Mapped[Decimal] = mapped_column(Money, nullable=False)
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    owner_id: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()

    __table_args__ = (
        sa.UniqueConstraint("name", name="uq_campaigns_name"),
        sa.Index("ix_campaigns_channel", "channel", "id"),
        sa.Index("ix_campaigns_owner", "owner_id", "id"),
        sa.Index("ix_campaigns_period", "starts_on", "ends_on"),
    )
