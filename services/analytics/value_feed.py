"""The customer value feed: analytics tells customers each customer's value.

Every ``ANALYTICS_VALUE_INTERVAL`` seconds (default 300) the ``feed_customer_values`` timer
computes, over every customer analytics has valued (``customer_values``, the same set and the
same rules as the company-wide ``customer_value`` report):

* the pyramid tier (客户金字塔: platinum / gold / iron / lead, or inactive without net revenue),
* the RFM scores (1–5 each),
* the churn-risk flag and reason analytics announced (``churn_flags``, see ``scan_churn``),

and emits ``customer.value_changed`` on ``analytics.events`` only for the customers whose
values differ from what it last emitted for them. What was emitted is kept in
``customer_value_feed`` (not a projection of the event log: a rebuild keeps it, so nothing is
announced twice).

Replica-safe: on PostgreSQL a run first takes a transaction-scoped advisory lock and a replica
that does not get it skips the run, so two replicas never compare against the same old state
(SQLite's ``BEGIN IMMEDIATE`` serialises runs already). Each row is still written with a
conditional ``INSERT ... ON CONFLICT DO NOTHING`` / ``UPDATE ... WHERE <values differ>``, and
only a write that changed a row emits, so even two overlapping runs announce a change once.
"""
from __future__ import annotations

import os
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crmkit import timeutil
from crmkit.models import UTCDateTime
from crmkit.uow import UnitOfWork
from services.analytics.domain import value as values
from services.analytics.models import Base, ChurnFlag, CustomerValue, Id

VALUE_CHANGED = "customer.value_changed"
INTERVAL_SECONDS = float(os.environ.get("ANALYTICS_VALUE_INTERVAL") or 300)
LOCK_KEY = "crm.analytics.value_feed"
FIELDS = ("tier", "r", "f", "m", "churn_risk", "churn_reason")


class ValueFeedEntry(Base):
    """The value last announced per customer (``customer.value_changed``)."""

    __tablename__ = "customer_value_feed"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    tier: Mapped[str | None] = mapped_column(sa.String(20))
    r: Mapped[int] = mapped_column(sa.Integer)
    f: Mapped[int] = mapped_column(sa.Integer)
    m: Mapped[int] = mapped_column(sa.Integer)
    churn_risk: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    churn_reason: Mapped[str | None] = mapped_column(sa.String(40))
    emitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    emitted: Mapped[int] = mapped_column(sa.Integer, default=1)


def current_values(session, now: datetime) -> dict[str, dict]:
    """customer id → {tier, r, f, m, churn_risk, churn_reason}, as of ``now``."""
    v = CustomerValue
    facts = {}
    for cid, last, contracts, revenue, refunds in session.execute(sa.select(
            v.customer_id, v.last_contract_at, v.contracts, v.revenue_cents, v.refund_cents)):
        last = timeutil.aware(last)
        recency = None if last is None else max(0.0, (now - last).total_seconds() / 86400)
        facts[cid] = (recency, contracts or 0, (revenue or 0) - (refunds or 0))
    scores = values.rfm(facts)
    tiers = values.pyramid({k: f[2] for k, f in facts.items()})
    flags = {cid: reason for cid, reason in session.execute(sa.select(
        ChurnFlag.customer_id, ChurnFlag.reason).where(ChurnFlag.active.is_(True)))}
    return {cid: {"tier": tiers[cid], "r": scores[cid]["r"], "f": scores[cid]["f"],
                  "m": scores[cid]["m"], "churn_risk": cid in flags,
                  "churn_reason": flags.get(cid)}
            for cid in facts}


def _locked(session) -> bool:
    """Take this run's lock (PostgreSQL); False when another replica is running it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(sa.text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                                {"k": LOCK_KEY}).scalar())


def _differs(value: dict):
    e = ValueFeedEntry
    return sa.or_(*(sa.not_(getattr(e, k).is_not_distinct_from(value[k])) for k in FIELDS))


def _claim(session, cid: str, value: dict, now: datetime) -> tuple[bool, dict | None]:
    """Write ``value`` as the announced one if it differs; (changed, previous value)."""
    e = ValueFeedEntry
    inserted = session.execute(sa.text(
        "INSERT INTO customer_value_feed (customer_id, tier, r, f, m, churn_risk, "
        "churn_reason, emitted_at, emitted) VALUES (:customer_id, :tier, :r, :f, :m, "
        ":churn_risk, :churn_reason, :emitted_at, 1) ON CONFLICT (customer_id) DO NOTHING"
    ).bindparams(sa.bindparam("churn_risk", type_=sa.Boolean),
                 sa.bindparam("emitted_at", type_=UTCDateTime)),
        {"customer_id": cid, **value, "emitted_at": now}).rowcount
    if inserted == 1:
        return True, None
    before = session.execute(sa.select(*(getattr(e, k) for k in FIELDS)).where(
        e.customer_id == cid)).one()
    updated = session.execute(sa.update(e).where(e.customer_id == cid, _differs(value))
                              .values(**value, emitted_at=now, emitted=e.emitted + 1)
                              .execution_options(synchronize_session=False)).rowcount
    return updated == 1, dict(zip(FIELDS, before, strict=True))


def feed_customer_values(uow: UnitOfWork) -> dict:
    """The periodic job: one ``customer.value_changed`` per customer whose value changed."""
    session, now = uow.session, timeutil.now()
    if not _locked(session):
        return {"skipped": True, "customers": 0, "emitted": 0}
    current = current_values(session, now)
    known = {row.customer_id: {k: getattr(row, k) for k in FIELDS}
             for row in session.execute(sa.select(ValueFeedEntry)).scalars()}
    emitted = 0
    for cid in sorted(current):
        value = current[cid]
        if known.get(cid) == value:
            continue
        changed, before = _claim(session, cid, value, now)
        if not changed:
            continue
        uow.emit(VALUE_CHANGED, {
            "customer_id": cid, **value,
            "rfm": f"{value['r']}{value['f']}{value['m']}",
            "changed": sorted(k for k in FIELDS if before is None or before[k] != value[k]),
            "computed_at": timeutil.iso(now)})
        emitted += 1
    return {"skipped": False, "customers": len(current), "emitted": emitted}
