"""The analytics store (owned by this service alone): the event log and its read models.

``event_log`` is the source of truth: every event consumed, in the order applied
(``seq``). Everything else is a projection of it and can be rebuilt from it
(``rebuild_projections``):

* current state per lead, customer and opportunity (last writer wins by
  ``occurred_at``, so events applied in any order converge);
* ``stages_reached``: each stage an opportunity reached (the funnel), attributed to
  the opportunity's current owner, team and amount and to the day it was opened;
* ``pipelines`` / ``pipeline_stages``: stage order, declared or discovered;
* rollups per business day and per business month, owner and team
  (``daily_/monthly_event_counts``, ``daily_/monthly_stage_counts``), which keep the
  funnel and the coming briefings and rankings small sums instead of scans.
  ``owner_key`` / ``team_key`` are ``""`` for none (the pool). Money in the rollups
  is integer cents: exact on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.db import kit_tables
from crmkit.models import Money, UTCDateTime

Id = sa.String(36)
NONE_KEY = ""


class Base(DeclarativeBase):
    pass


kit_tables(Base.metadata)


class EventLogEntry(Base):
    __tablename__ = "event_log"

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                     primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(Id, unique=True)
    type: Mapped[str] = mapped_column(sa.String(80))
    source: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[str | None] = mapped_column(Id)
    correlation_id: Mapped[str | None] = mapped_column(sa.String(64))
    owner_id: Mapped[str | None] = mapped_column(Id)
    team_id: Mapped[str | None] = mapped_column(Id)
    subject_id: Mapped[str | None] = mapped_column(sa.String(64))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (
        sa.Index("ix_event_log_owner_id", "owner_id", "id"),
        sa.Index("ix_event_log_type_time", "type", "occurred_at",
                 postgresql_include=["owner_id", "team_id", "amount"]),
        sa.Index("ix_event_log_subject", "subject_id"),
    )


class LeadState(Base):
    __tablename__ = "lead_states"

    lead_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    company: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str | None] = mapped_column(sa.String(20))
    pool: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str | None] = mapped_column(sa.String(20))
    owner_id: Mapped[str | None] = mapped_column(Id)
    follow_up_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the campaign (市场活动) the lead came from (its latest event's ``campaign_id``)
    campaign_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(Id)

    __table_args__ = (
        sa.Index("ix_lead_states_owner", "owner_id", "status"),
        sa.Index("ix_lead_states_pool", "pool", "status"),
        sa.Index("ix_lead_states_campaign", "campaign_id"),
    )


class CampaignState(Base):
    """Current state of a campaign (市场活动), from ``campaign.created`` / ``.updated``
    (last writer wins by ``occurred_at``)."""

    __tablename__ = "campaign_states"

    campaign_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    channel: Mapped[str | None] = mapped_column(sa.String(20))
    budget: Mapped[Decimal | None] = mapped_column(Money)
    starts_on: Mapped[date | None] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    owner_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(Id)

    __table_args__ = (sa.Index("ix_campaign_states_channel", "channel", "starts_on"),)


class CustomerState(Base):
    __tablename__ = "customer_states"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    lead_id: Mapped[str | None] = mapped_column(Id)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    level: Mapped[str | None] = mapped_column(sa.String(10))
    status: Mapped[str | None] = mapped_column(sa.String(20))
    owner_id: Mapped[str | None] = mapped_column(Id)
    team_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(Id)

    __table_args__ = (
        sa.Index("ix_customer_states_owner", "owner_id"),
        sa.Index("ix_customer_states_team", "team_id"),
        sa.Index("ix_customer_states_lead", "lead_id"),
    )


class OpportunityState(Base):
    __tablename__ = "opportunity_states"

    opportunity_id: Mapped[str] = mapped_column(Id, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(Id)
    customer_id: Mapped[str | None] = mapped_column(Id)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    stage: Mapped[str | None] = mapped_column(sa.String(100))
    status: Mapped[str | None] = mapped_column(sa.String(20))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    probability: Mapped[float | None] = mapped_column(sa.Float)
    expected_close_date: Mapped[date | None] = mapped_column(sa.Date)
    lost_reason: Mapped[str | None] = mapped_column(sa.String(500))
    owner_id: Mapped[str | None] = mapped_column(Id)
    team_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(Id)

    __table_args__ = (
        sa.Index("ix_opportunity_states_pipeline", "pipeline_id", "created_at"),
        sa.Index("ix_opportunity_states_owner", "owner_id", "status"),
        sa.Index("ix_opportunity_states_close", "status", "expected_close_date"),
        sa.Index("ix_opportunity_states_customer", "customer_id"),
    )


class StageReached(Base):
    """One row per (opportunity, stage) it ever reached, with the first time it did."""

    __tablename__ = "stages_reached"

    opportunity_id: Mapped[str] = mapped_column(Id, primary_key=True)
    stage: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(Id)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    owner_id: Mapped[str | None] = mapped_column(Id)
    team_id: Mapped[str | None] = mapped_column(Id)
    amount: Mapped[Decimal | None] = mapped_column(Money)

    __table_args__ = (sa.Index("ix_stages_reached_pipeline", "pipeline_id", "opened_at"),)


class Pipeline(Base):
    __tablename__ = "pipelines"

    pipeline_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    declared: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    opportunities: Mapped[int] = mapped_column(sa.Integer, default=0)


class PipelineStage(Base):
    __tablename__ = "pipeline_stages"

    pipeline_id: Mapped[str] = mapped_column(Id, primary_key=True)
    stage: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    probability: Mapped[float | None] = mapped_column(sa.Float)
    kind: Mapped[str] = mapped_column(sa.String(10), default="open")
    declared: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class _EventCounts:
    type: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    owner_key: Mapped[str] = mapped_column(Id, primary_key=True)
    team_key: Mapped[str] = mapped_column(Id, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class DailyEventCount(_EventCounts, Base):
    """Events of a counted type per business day, owner and team (with their amounts)."""

    __tablename__ = "daily_event_counts"


class MonthlyEventCount(_EventCounts, Base):
    """The same per business month; ``day`` is the month's first day."""

    __tablename__ = "monthly_event_counts"


class _StageCounts:
    pipeline_id: Mapped[str] = mapped_column(Id, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    stage: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    owner_key: Mapped[str] = mapped_column(Id, primary_key=True)
    team_key: Mapped[str] = mapped_column(Id, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class DailyStageCount(_StageCounts, Base):
    """Opportunities that reached a stage, by the business day they were opened."""

    __tablename__ = "daily_stage_counts"


class MonthlyStageCount(_StageCounts, Base):
    """The same per business month; ``day`` is the month's first day."""

    __tablename__ = "monthly_stage_counts"


class TicketState(Base):
    """Current state of a service ticket (open complaints feed the churn warning)."""

    __tablename__ = "ticket_states"

    ticket_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(Id)
    owner_id: Mapped[str | None] = mapped_column(Id)
    category: Mapped[str | None] = mapped_column(sa.String(40))
    status: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(Id)

    __table_args__ = (sa.Index("ix_ticket_states_customer", "customer_id", "category"),)


class CustomerValue(Base):
    """What each customer brought and cost, summed from its events (customer value, 7P).

    Sums and min/max only, so events applied in any order converge. Money in integer
    cents, service workload in hundredths of an hour."""

    __tablename__ = "customer_values"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    contracts: Mapped[int] = mapped_column(sa.Integer, default=0)
    revenue_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    first_contract_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_contract_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_contracts: Mapped[int] = mapped_column(sa.Integer, default=0)
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    overdue_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    overdue_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    refund_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    returns: Mapped[int] = mapped_column(sa.Integer, default=0)
    tickets: Mapped[int] = mapped_column(sa.Integer, default=0)
    complaints: Mapped[int] = mapped_column(sa.Integer, default=0)
    sla_breaches: Mapped[int] = mapped_column(sa.Integer, default=0)
    workload_centihours: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    follow_ups: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opportunities_won: Mapped[int] = mapped_column(sa.Integer, default=0)
    opportunities_lost: Mapped[int] = mapped_column(sa.Integer, default=0)


class CustomerProduct(Base):
    """Signed contract lines per customer and product (the customer's preferences)."""

    __tablename__ = "customer_products"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    product_key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    count: Mapped[int] = mapped_column(sa.Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ChurnFlag(Base):
    """A churn-risk episode per customer: ``active`` while at risk; ``episode`` counts them.

    Not a projection of the log (it records what analytics itself announced), so a
    rebuild keeps it: a customer already flagged is not announced twice."""

    __tablename__ = "churn_flags"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    episode: Mapped[int] = mapped_column(sa.Integer, default=0)
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


EVENT_COUNTS = (DailyEventCount, MonthlyEventCount)
STAGE_COUNTS = (DailyStageCount, MonthlyStageCount)
PROJECTIONS = (LeadState, CustomerState, OpportunityState, StageReached, Pipeline,
               PipelineStage, *EVENT_COUNTS, *STAGE_COUNTS, TicketState, CustomerValue,
               CustomerProduct, CampaignState)
