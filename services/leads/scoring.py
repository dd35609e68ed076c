"""Lead scores (线索评分): the newest conversion model analytics published, applied here.

Analytics fits a logistic regression on the whole history and publishes it as
``scoring.lead_model_published`` (docs/analytics.md § Scoring; the payload in docs/events.md).
This service keeps every version it received (``lead_scoring_models``) and scores its open
leads with the newest one, from fields it holds itself:

* ``source``, ``campaign_id``, ``industry``, ``region`` — the lead's own;
* ``follow_ups`` — its follow-up records, ``days_since_follow_up`` — since the last one (or
  since creation), ``age_days`` — since creation.

``score`` = round(100 · σ(logit)), logit = intercept + Σ coef · x (x = 1/0 for a category
column, (log1p(value) − center) / scale for a number): the probability that the lead is
converted within the model's window. ``score_reasons``: the fields that moved it most against
the average lead (Σ coef · (x − mean) per field, |contribution| ≥ 0.05, at most 5).

When: on create, update and follow-up (in that unit of work), and for every open lead whose
score is missing or from an older version, in batches of ``LEADS_RESCORE_BATCH`` (500), right
after a newer model arrives and by the ``rescore_leads`` timer (``LEADS_RESCORE_INTERVAL``,
60 s) — replica-safe (on PostgreSQL each batch takes its rows ``FOR UPDATE SKIP LOCKED``) and
idempotent (a lead scored with the newest version is not taken again). Converted and invalid
leads keep the score they had when they closed.
"""
from __future__ import annotations

import base64
import math
import os
from datetime import datetime
from time import monotonic
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crmkit import timeutil
from crmkit.errors import ValidationFailed
from crmkit.models import UTCDateTime
from crmkit.scoring import number as _number
from crmkit.scoring import reasons as explained
from crmkit.scoring import shown_number, sigmoid
from crmkit.scoring import text as _text
from services.leads.domain import rules
from services.leads.models import Base, FollowUp, Lead

MODEL_PUBLISHED = ("analytics", "scoring.lead_model_published")
BATCH = int(os.environ.get("LEADS_RESCORE_BATCH") or 500)
RESCORE_INTERVAL = float(os.environ.get("LEADS_RESCORE_INTERVAL") or 60)
DAY = 86400.0


class LeadScoringModel(Base):
    """Every lead-conversion model version received from analytics."""

    __tablename__ = "lead_scoring_models"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    fitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    auc: Mapped[float | None] = mapped_column(sa.Float)
    payload: Mapped[dict] = mapped_column(sa.JSON)


# -- pure: features, score, reasons --------------------------------------------------------

def features(lead, follow_ups: int, now: datetime) -> dict:
    """The model's fields for ``lead`` (a row or anything with its attributes) as of now."""
    created = timeutil.aware(lead.created_at) or now
    last = timeutil.aware(lead.last_follow_up_at) or created
    return {"source": lead.source, "campaign_id": getattr(lead, "campaign_id", None),
            "industry": lead.industry, "region": lead.region, "follow_ups": follow_ups,
            "days_since_follow_up": max(0.0, (now - last).total_seconds() / DAY),
            "age_days": max(0.0, (now - created).total_seconds() / DAY)}


def _x(feature: dict, row: dict) -> float:
    if feature["kind"] == "category":
        return 1.0 if _text(row.get(feature["field"])) == feature.get("value") else 0.0
    return (math.log1p(_number(row.get(feature["field"]))) - float(feature["center"])) \
        / float(feature["scale"] or 1.0)


def _shown(payload: dict, field: str, row: dict) -> tuple[str, str]:
    raw = row.get(field)
    kinds = {f["field"]: f for f in payload.get("features", [])}
    if kinds.get(field, {}).get("kind") == "category":
        v = _text(raw)
        if v is None:
            return "未知", "unknown"
        match = next((f for f in payload["features"]
                      if f["field"] == field and f.get("value") == v), None)
        return (str(match.get("value_zh") or v), str(match.get("value_en") or v)) \
            if match else (v, v)
    return shown_number(raw, kinds[field].get("unit_zh", ""), kinds[field].get("unit_en", ""))


def apply(payload: dict, row: dict) -> tuple[int, list[dict]]:
    """(score 0–100, reasons) of ``row`` under the published model ``payload``."""
    z = float(payload["intercept"])
    parts: dict[str, float] = {}
    for f in payload["features"]:
        x = _x(f, row)
        z += float(f["coef"]) * x
        parts[f["field"]] = parts.get(f["field"], 0.0) + float(f["coef"]) * (x - float(f["mean"]))
    labels = {f["field"]: f for f in payload.get("fields", [])} | {
        f["field"]: f for f in payload["features"]}

    def describe(name: str) -> tuple[str, str, str, str]:
        label = labels.get(name, {})
        return (label.get("label_zh", name), label.get("label_en", name),
                *_shown(payload, name, row))

    return int(round(100 * sigmoid(z))), explained(parts, row, describe)


def check_payload(data: dict) -> dict:
    """The event's data, or 422 (the event then goes to the dead-letter queue)."""
    try:
        version = int(data["version"])
        float(data["intercept"])
        for f in data["features"]:
            float(f["coef"]), float(f["mean"])
            if f["kind"] == "numeric":
                float(f["center"]), float(f["scale"])
            elif f["kind"] != "category":
                raise ValueError(f["kind"])
            str(f["field"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed("validation_error", f"not a lead model: {exc!r}") from None
    if version < 1:
        raise ValidationFailed("validation_error", "version must be ≥ 1")
    return data


# -- the store -----------------------------------------------------------------------------

_cache: dict[int, dict] = {}
# (when checked, newest version): a write scores with a model looked up at most this long ago
# — a model that arrived meanwhile (through another replica) reaches that lead through the
# rescoring after its arrival or the ``rescore_leads`` timer; it saves a query per write
NEWEST_TTL_SECONDS = 2.0
_checked: list = [float("-inf"), None]


def newest(session, max_age: float = 0.0) -> tuple[int, dict] | None:
    """The newest model (version, payload); ``max_age``: a version looked up that recently
    will do."""
    if max_age > 0 and monotonic() - _checked[0] < max_age:
        version = _checked[1]
    else:
        version = session.execute(sa.select(sa.func.max(LeadScoringModel.version))).scalar()
        _checked[:] = [monotonic(), version]
    if version is None:
        return None
    if version not in _cache:
        _cache.clear()
        _cache[version] = session.get(LeadScoringModel, version).payload
    return version, _cache[version]


def store_model(session, data: dict) -> bool:
    """Keep a received model (once per version); True when it is new."""
    data = check_payload(data)
    inserted = session.execute(sa.text(
        "INSERT INTO lead_scoring_models (version, fitted_at, received_at, auc, payload) "
        "VALUES (:version, :fitted_at, :received_at, :auc, :payload) "
        "ON CONFLICT (version) DO NOTHING").bindparams(
        sa.bindparam("fitted_at", type_=UTCDateTime), sa.bindparam("received_at",
                                                                    type_=UTCDateTime),
        sa.bindparam("payload", type_=sa.JSON)),
        {"version": int(data["version"]), "fitted_at": _time(data.get("fitted_at")),
         "received_at": timeutil.now(), "auc": data.get("auc"), "payload": data}).rowcount
    _checked[0] = float("-inf")
    return inserted == 1


def _time(value):
    try:
        return timeutil.parse_time(value) if value else None
    except (TypeError, ValueError):
        return None


def _follow_up_counts(session, lead_ids: list[str]) -> dict[str, int]:
    if not lead_ids:
        return {}
    return dict(session.execute(sa.select(FollowUp.lead_id, sa.func.count()).where(
        FollowUp.lead_id.in_(lead_ids)).group_by(FollowUp.lead_id)).all())


def _set(lead: Lead, version: int, payload: dict, follow_ups: int, now: datetime) -> None:
    lead.score, lead.score_reasons = apply(payload, features(lead, follow_ups, now))
    lead.score_model_version, lead.scored_at = version, now


def score_lead(session, lead: Lead, now: datetime | None = None, *,
               follow_ups: int | None = None) -> None:
    """Score one open lead with the newest model (nothing before a model arrived);
    ``follow_ups``: its follow-up count when the caller knows it (a new lead: 0)."""
    model = newest(session, max_age=NEWEST_TTL_SECONDS)
    if model is None or lead.status in rules.CLOSED:
        return
    if follow_ups is None:
        session.flush()
        follow_ups = _follow_up_counts(session, [lead.id]).get(lead.id, 0)
    _set(lead, *model, follow_ups, now or timeutil.now())


#: [the model's payload, {(source, campaign, industry, region): (score, reasons)}] of new
#: leads under that model (kept across batches: an import's rows repeat a few combinations)
_new_scores: list = [None, {}]


def score_new_rows(session, rows: list[dict], now: datetime) -> None:
    """Score new open leads given as dicts of their columns (the import's rows) exactly as
    ``score_lead`` scores a created one (no follow-up, created ``now``): the score then
    depends only on source, campaign, industry and region, so it is computed once per
    distinct combination of those (per model)."""
    model = newest(session, max_age=NEWEST_TTL_SECONDS)
    if model is None:
        return
    version, payload = model
    if _new_scores[0] is not payload or len(_new_scores[1]) > 10_000:
        _new_scores[:] = [payload, {}]
    known = _new_scores[1]
    for row in rows:
        if row["status"] in rules.CLOSED:
            continue
        key = (row["source"], row["campaign_id"], row["industry"], row["region"])
        if key not in known:
            lead = SimpleNamespace(source=row["source"], campaign_id=row["campaign_id"],
                                   industry=row["industry"], region=row["region"],
                                   created_at=now, last_follow_up_at=None)
            known[key] = apply(payload, features(lead, 0, now))
        row["score"], row["score_reasons"] = known[key]
        row["score_model_version"], row["scored_at"] = version, now


def rescore_batch(session, limit: int = BATCH) -> int:
    """Score up to ``limit`` open leads not yet scored with the newest model."""
    model = newest(session)
    if model is None:
        return 0
    version, payload = model
    query = (sa.select(Lead).where(
        Lead.status.not_in(rules.CLOSED),
        sa.or_(Lead.score_model_version.is_(None), Lead.score_model_version < version))
        .order_by(Lead.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    leads = session.execute(query).scalars().all()
    counts = _follow_up_counts(session, [lead.id for lead in leads])
    now = timeutil.now()
    for lead in leads:
        _set(lead, version, payload, counts.get(lead.id, 0), now)
    return len(leads)


# -- sort=score keyset ---------------------------------------------------------------------

def score_key():
    """The sort key of ``?sort=score``: best first, unscored last (as −1), then newest."""
    return sa.func.coalesce(Lead.score, -1)


def _cursor(score: int | None, lead_id: str) -> str:
    raw = f"{(score if score is not None else -1) + 1:03d}{lead_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        key, lead_id = int(raw[:3]) - 1, raw[3:]
        if not lead_id.isalnum() or not -1 <= key <= 100:
            raise ValueError(raw)
    except Exception:  # noqa: BLE001 - any garbage is a client error
        raise ValidationFailed("invalid_cursor", "the cursor is not valid",
                               [{"field": "cursor", "message": "malformed"}]) from None
    return key, lead_id


def paginate_by_score(session, query: sa.Select, cursor: str | None, limit: int, dump) -> dict:
    """``query`` best score first (unscored last), ties newest first; keyset-paged."""
    key = score_key()
    if cursor:
        after, lead_id = _uncursor(cursor)
        query = query.where(sa.or_(key < after, sa.and_(key == after, Lead.id < lead_id)))
    rows = session.execute(query.order_by(key.desc(), Lead.id.desc()).limit(limit + 1)) \
        .scalars().all()
    items = [dump(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": None if last is None else _cursor(last.score, last.id)}
