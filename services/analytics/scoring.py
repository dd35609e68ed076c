"""Explainable scoring (可解释评分): the periodic fit, the published lead model, the customer
repurchase scores and the customer insights RPC. Definitions: docs/analytics.md § Scoring.

``refit`` (timer every ``ANALYTICS_SCORING_INTERVAL`` seconds, default 3600, and the admin
RPC ``refit_scoring``) reads the event log — analytics holds the whole history — and

1. fits the **lead conversion** model (``scoring_features.LEAD_FIELDS``), stores it as the
   next version in ``scoring_models`` and publishes it as ``scoring.lead_model_published``
   through the outbox; the leads service applies it to its open leads;
2. fits the **customer repurchase** model (``CUSTOMER_FIELDS``), stores it, and writes every
   customer's score and reasons to ``customer_scores``;
3. recomputes the co-occurrence counts behind the recommendations (``recommend.refresh``).

Replica-safe: on PostgreSQL a run takes a transaction-scoped advisory lock and a replica that
does not get it skips; a timer run also skips while the newest model is younger than 90 % of
the interval, so N replicas fit once per interval. Everything a run writes (model rows,
scores, counts, the outbox row of the event) commits together or not at all; versions are
unique per kind (primary key), so two overlapping runs could never publish one version twice.
"""
from __future__ import annotations

import os
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crmkit import timeutil
from crmkit.errors import NotFound
from crmkit.models import UTCDateTime
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from services.analytics import recommend
from services.analytics import scoring_features as feats
from services.analytics import scoring_model as sm
from services.analytics.models import Base, CustomerState, EventLogEntry, Id

INTERVAL_SECONDS = float(os.environ.get("ANALYTICS_SCORING_INTERVAL") or 3600)
LOCK_KEY = "crm.analytics.scoring"
LEAD_MODEL, CUSTOMER_MODEL = "lead_conversion", "customer_repurchase"
LEAD_MODEL_PUBLISHED = "scoring.lead_model_published"
MIN_SAMPLES = 10


def window_days() -> float:
    """W, the repurchase window: a customer's score is P(signs a contract within W days)."""
    return float(os.environ.get("ANALYTICS_REPURCHASE_WINDOW_DAYS") or 180)


def lead_window_days() -> float:
    """W of the lead model: a lead's score is P(converted within W days)."""
    return float(os.environ.get("ANALYTICS_LEAD_WINDOW_DAYS") or 30)


def max_leads() -> int:
    return int(os.environ.get("ANALYTICS_SCORING_MAX_LEADS") or 200_000)


class ScoringModel(Base):
    """Every fitted model version (not a projection: a rebuild keeps them)."""

    __tablename__ = "scoring_models"

    kind: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    samples: Mapped[int] = mapped_column(sa.Integer)
    positives: Mapped[int] = mapped_column(sa.Integer)
    test_samples: Mapped[int] = mapped_column(sa.Integer)
    auc: Mapped[float | None] = mapped_column(sa.Float)
    payload: Mapped[dict] = mapped_column(sa.JSON)


class CustomerScore(Base):
    """Each customer's repurchase score from the newest customer model."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    score: Mapped[int] = mapped_column(sa.Integer)
    probability: Mapped[float] = mapped_column(sa.Float)
    reasons: Mapped[list] = mapped_column(sa.JSON)
    features: Mapped[dict] = mapped_column(sa.JSON)
    model_version: Mapped[int] = mapped_column(sa.Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_customer_scores_score", "score"),)


# -- reading the log -----------------------------------------------------------------------

def _events(session, types, since: datetime | None = None) -> list[tuple]:
    e = EventLogEntry
    query = sa.select(e.id, e.type, e.occurred_at, e.data).where(e.type.in_(types))
    if since is not None:
        query = query.where(e.occurred_at >= since)
    return [(eid, etype, timeutil.aware(at), data or {})
            for eid, etype, at, data in session.execute(query.order_by(e.seq))
            .yield_per(5000)]


def _lead_events(session) -> tuple[list[tuple], set[str] | None]:
    """Lead events of the newest ``ANALYTICS_SCORING_MAX_LEADS`` leads (and which ones)."""
    e = EventLogEntry
    created = session.execute(sa.select(sa.func.count()).where(
        e.type == "lead.created")).scalar_one()
    if created <= max_leads():
        return _events(session, feats.LEAD_TYPES), None
    since = timeutil.aware(session.execute(
        sa.select(e.occurred_at).where(e.type == "lead.created")
        .order_by(e.occurred_at.desc()).offset(max_leads() - 1).limit(1)).scalar_one())
    ids = set(session.execute(sa.select(e.subject_id).where(
        e.type == "lead.created", e.occurred_at >= since)).scalars())
    return _events(session, feats.LEAD_TYPES, since), ids


# -- the job -------------------------------------------------------------------------------

def _locked(session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(sa.text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                                {"k": LOCK_KEY}).scalar())


def latest(session, kind: str) -> ScoringModel | None:
    return session.execute(sa.select(ScoringModel).where(ScoringModel.kind == kind)
                           .order_by(ScoringModel.version.desc()).limit(1)).scalar_one_or_none()


def _store(session, model: sm.Model, now: datetime, extra: dict | None = None) -> ScoringModel:
    previous = latest(session, model.kind)
    row = ScoringModel(kind=model.kind, version=(previous.version if previous else 0) + 1,
                       fitted_at=now, samples=model.samples, positives=model.positives,
                       test_samples=model.test_samples, auc=model.auc,
                       payload={**sm.to_payload(model), **(extra or {})})
    session.add(row)
    session.flush()
    return row


def _off_hub(work):
    """Run CPU-bound ``work()`` (building samples, fitting) in a real OS thread when the
    service runs under eventlet, so the hub keeps serving RPCs, events and the broker's
    heartbeats meanwhile instead of freezing for the whole fit."""
    from eventlet import patcher, tpool

    if patcher.is_monkey_patched("thread"):
        return tpool.execute(work)
    return work()


def _fit(kind, fields, samples) -> tuple[sm.Model | None, str | None]:
    labels = {s[2] for s in samples}
    if len(samples) < MIN_SAMPLES:
        return None, f"{len(samples)} samples (at least {MIN_SAMPLES} needed)"
    if labels != {0, 1}:
        return None, "every sample has the same label"
    return sm.fit_and_measure(kind, fields, samples), None


def _summary(row: ScoringModel | None) -> dict | None:
    if row is None:
        return None
    return {"kind": row.kind, "version": row.version,
            "fitted_at": timeutil.iso(timeutil.aware(row.fitted_at)), "samples": row.samples,
            "positives": row.positives, "test_samples": row.test_samples,
            "auc": None if row.auc is None else round(row.auc, 4)}


def _campaign_labels(events) -> dict[str, str]:
    names = {}
    for _, _, _, data in events:
        if data.get("campaign_id") and data.get("campaign_name"):
            names[str(data["campaign_id"])] = str(data["campaign_name"])
    return names


def fit_leads(uow: UnitOfWork, now: datetime) -> dict:
    session = uow.session
    events, only = _lead_events(session)
    leads = feats.lead_histories(events)
    if only is not None:
        leads = {k: v for k, v in leads.items() if k in only}
    names = _campaign_labels(events)
    fields = tuple(f if f.name != "campaign_id" else
                   sm.Field(f.name, f.kind, f.label_zh, f.label_en, values_zh=names,
                            values_en=names) for f in feats.LEAD_FIELDS)
    w = lead_window_days()
    model, why = _off_hub(lambda: _fit(LEAD_MODEL, fields, feats.lead_samples(leads, now, w)))
    if model is None:
        return {"fitted": False, "reason": why, "leads": len(leads)}
    row = _store(session, model, now, {"window_days": w})
    uow.emit(LEAD_MODEL_PUBLISHED, {"model": LEAD_MODEL, "version": row.version,
                                    "fitted_at": timeutil.iso(now), **row.payload})
    return {"fitted": True, **_summary(row)}


def fit_customers(uow: UnitOfWork, now: datetime) -> dict:
    session = uow.session
    events = _events(session, tuple(set(feats.CUSTOMER_TYPES) | set(recommend.EVENT_TYPES)))
    counts = recommend.refresh(session, [e for e in events if e[1] in recommend.EVENT_TYPES],
                               feats.merged_into(events))
    customers = feats.customer_histories(events)
    w = window_days()
    model, why = _off_hub(lambda: _fit(CUSTOMER_MODEL, feats.CUSTOMER_FIELDS,
                                       feats.customer_samples(customers, now, w)))
    if model is None:
        return {"fitted": False, "reason": why, "customers": len(customers),
                "recommendations": counts}
    row = _store(session, model, now, {"window_days": w})
    session.execute(sa.delete(CustomerScore))
    rows = []
    for cid in sorted(customers):
        features = feats.customer_row(customers[cid], now, w)
        told = sm.explain(model, features)
        rows.append({"customer_id": cid, "score": told["score"],
                     "probability": told["probability"], "reasons": told["reasons"],
                     "features": features, "model_version": row.version, "computed_at": now})
    if rows:
        session.execute(sa.insert(CustomerScore), rows)
    return {"fitted": True, **_summary(row), "scored": len(rows), "recommendations": counts}


def refit(uow: UnitOfWork, principal: Principal | None = None, force: bool = True) -> dict:
    """Fit both models now (``force``) or when the newest is older than the interval."""
    if principal is not None:
        principal.require_role("admin")
    session, now = uow.session, timeutil.now()
    if not _locked(session):
        return {"skipped": True, "reason": "another replica is fitting"}
    if not force:
        newest = latest(session, LEAD_MODEL) or latest(session, CUSTOMER_MODEL)
        age = None if newest is None else \
            (now - timeutil.aware(newest.fitted_at)).total_seconds()
        if age is not None and age < 0.9 * INTERVAL_SECONDS:
            return {"skipped": True, "reason": "fitted recently"}
    return {"skipped": False, "fitted_at": timeutil.iso(now),
            LEAD_MODEL: fit_leads(uow, now), CUSTOMER_MODEL: fit_customers(uow, now)}


# -- reading -------------------------------------------------------------------------------

def models(uow: UnitOfWork) -> dict:
    """The newest model of each kind with its held-out AUC and coefficients."""
    out = {}
    for kind in (LEAD_MODEL, CUSTOMER_MODEL):
        row = latest(uow.session, kind)
        out[kind] = None if row is None else {**_summary(row), "model": row.payload}
    return out


def customer_insights(uow: UnitOfWork, principal: Principal, customer_id) -> dict:
    """Repurchase score with its reasons, and product recommendations; 404 outside the
    caller's scope (the same rule as the 7P profile)."""
    session, customer_id = uow.session, str(customer_id or "")
    customer = session.get(CustomerState, customer_id)
    scored = session.get(CustomerScore, customer_id)
    owner = customer.owner_id if customer else None
    holding = session.execute(sa.select(recommend.CustomerHolding.customer_id).where(
        recommend.CustomerHolding.customer_id == customer_id).limit(1)).first()
    if (customer is None and scored is None and holding is None) or (
            owner is not None and not principal.can_see_owner(owner)) or (
            customer is None and not principal.sees_all):
        raise NotFound("not_found", f"customer {customer_id} not found",
                       {"customer_id": customer_id})
    model = latest(session, CUSTOMER_MODEL)
    repurchase = None
    if scored is not None:
        repurchase = {"score": scored.score, "probability": round(scored.probability, 4),
                      "reasons": scored.reasons, "features": scored.features,
                      "model_version": scored.model_version,
                      "computed_at": timeutil.iso(timeutil.aware(scored.computed_at)),
                      "window_days": (model.payload or {}).get("window_days")
                      if model else None,
                      "auc": None if model is None or model.auc is None
                      else round(model.auc, 4)}
    return {"customer_id": customer_id, "repurchase": repurchase,
            "recommendations": recommend.for_customer(session, customer_id)}
