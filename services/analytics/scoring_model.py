"""Explainable scoring (pure): a logistic regression over named fields, published as plain
numbers, and the reasons behind each score. No I/O, no Nameko, no SQLAlchemy.

A model is a list of **fields** (``source``, ``follow_ups`` …). A ``category`` field becomes
one 0/1 column per frequent value; a ``numeric`` field one column ``z = (log1p(x) − center) /
scale``. The fitted model is published as a dict (``to_payload``) that anyone can apply
without this module (the leads service does, with its own copy of ``apply``):

* ``intercept`` and, per column, ``coef`` plus what the column is: ``field``, ``kind``,
  ``value`` (category) or ``center``/``scale`` (numeric), ``mean`` (the column's mean in the
  training data), and Chinese/English labels.
* ``score`` = round(100 · σ(logit)), ``logit`` = intercept + Σ coef · x.

**Reasons.** A field's contribution is measured against the average record of the training
data: Σ over its columns of coef · (x − mean). The contributions plus ``baseline`` (the logit
of the average record, intercept + Σ coef · mean) add up to the logit exactly, so "来源：展会
+0.82" means: this lead's source moves its log-odds by +0.82 compared with an average lead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from crmkit.scoring import MAX_REASONS, shown_number, sigmoid
from crmkit.scoring import number as _number
from crmkit.scoring import reasons as explained
from crmkit.scoring import text as _text

CATEGORY, NUMERIC = "category", "numeric"
MIN_CATEGORY_COUNT = 2      # a value seen fewer times gets no column of its own
MAX_CATEGORIES = 30         # per field, the most frequent values


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    label_zh: str
    label_en: str
    unit_zh: str = ""
    unit_en: str = ""
    values_zh: dict = field(default_factory=dict)   # category value → Chinese label
    values_en: dict = field(default_factory=dict)


@dataclass
class Column:
    field: str
    kind: str
    value: str | None = None      # category columns
    center: float = 0.0           # numeric columns: log1p(x) − center, divided by scale
    scale: float = 1.0
    mean: float = 0.0             # the column's mean over the training rows
    coef: float = 0.0


@dataclass
class Model:
    kind: str
    fields: tuple[Field, ...]
    columns: list[Column]
    intercept: float
    samples: int = 0
    positives: int = 0
    test_samples: int = 0
    auc: float | None = None

    @property
    def baseline(self) -> float:
        return self.intercept + sum(c.coef * c.mean for c in self.columns)


# -- design matrix -------------------------------------------------------------------------

def column_value(column: Column, row: dict) -> float:
    raw = row.get(column.field)
    if column.kind == CATEGORY:
        return 1.0 if _text(raw) == column.value else 0.0
    return (math.log1p(_number(raw)) - column.center) / column.scale


def columns_for(fields: tuple[Field, ...], rows: list[dict]) -> list[Column]:
    """The columns of ``rows``: frequent values of each category field, each numeric field
    standardised (log1p, centred on its mean, divided by its standard deviation)."""
    columns: list[Column] = []
    for f in fields:
        if f.kind == CATEGORY:
            counts: dict[str, int] = {}
            for row in rows:
                v = _text(row.get(f.name))
                if v is not None:
                    counts[v] = counts.get(v, 0) + 1
            frequent = sorted((v for v, n in counts.items() if n >= MIN_CATEGORY_COUNT),
                              key=lambda v: (-counts[v], v))[:MAX_CATEGORIES]
            columns += [Column(f.name, CATEGORY, value=v) for v in sorted(frequent)]
        else:
            logs = np.array([math.log1p(_number(r.get(f.name))) for r in rows] or [0.0])
            std = float(logs.std())
            columns.append(Column(f.name, NUMERIC, center=float(logs.mean()),
                                  scale=std if std > 1e-9 else 1.0))
    return columns


def matrix(columns: list[Column], rows: list[dict]) -> np.ndarray:
    return np.array([[column_value(c, r) for c in columns] for r in rows], dtype=float) \
        .reshape(len(rows), len(columns))


# -- fitting and quality -------------------------------------------------------------------

def fit(kind: str, fields: tuple[Field, ...], rows: list[dict], labels: list[int],
        c: float = 1.0) -> Model:
    """A logistic regression (scikit-learn, L2, lbfgs) over ``rows`` → ``labels`` (0/1).

    Needs both labels present; raises ValueError otherwise."""
    from sklearn.linear_model import LogisticRegression

    y = np.array(labels, dtype=int)
    if len(rows) != len(y) or len(set(y.tolist())) < 2:
        raise ValueError("need rows of both labels")
    columns = columns_for(fields, rows)
    x = matrix(columns, rows)
    if x.shape[1]:
        means = x.mean(axis=0)
        lr = LogisticRegression(C=c, max_iter=2000)
        lr.fit(x, y)
        coefs, intercept = lr.coef_[0], float(lr.intercept_[0])
    else:  # nothing to learn from: the base rate
        means, coefs = np.zeros(0), np.zeros(0)
        p = y.mean()
        intercept = float(math.log(p / (1 - p)))
    for col, mean, coef in zip(columns, means, coefs, strict=True):
        col.mean, col.coef = float(mean), float(coef)
    return Model(kind, fields, columns, intercept, samples=len(rows), positives=int(y.sum()))


def auc(labels: list[int], scores: list[float]) -> float | None:
    """Area under the ROC curve (scikit-learn); None unless both labels occur."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def time_split(items: list, share: float = 0.2) -> tuple[list, list]:
    """``items`` already in time order → (the older part, the newest ``share``)."""
    n_test = int(round(len(items) * share))
    cut = len(items) - n_test
    return items[:cut], items[cut:]


def fit_and_measure(kind: str, fields: tuple[Field, ...], samples: list[tuple],
                    share: float = 0.2) -> Model:
    """``samples``: (time, row, label) in any order. Held-out quality: fit on the older
    80 % (by time), AUC on the newest 20 %. The model returned is then fitted on all of them
    (with that AUC attached). Raises ValueError when the data cannot make a model."""
    ordered = sorted(samples, key=lambda s: (s[0], repr(s[1])))
    rows, labels = [s[1] for s in ordered], [int(s[2]) for s in ordered]
    train, test = time_split(list(range(len(ordered))), share)
    measured = None
    if test and len({labels[i] for i in train}) == 2:
        held = fit(kind, fields, [rows[i] for i in train], [labels[i] for i in train])
        measured = auc([labels[i] for i in test], [logit(held, rows[i]) for i in test])
    model = fit(kind, fields, rows, labels)
    model.auc, model.test_samples = measured, len(test)
    return model


# -- applying and explaining ---------------------------------------------------------------

def logit(model: Model, row: dict) -> float:
    return model.intercept + sum(c.coef * column_value(c, row) for c in model.columns)


def score(model: Model, row: dict) -> int:
    return int(round(100 * sigmoid(logit(model, row))))


def contributions(model: Model, row: dict) -> dict[str, float]:
    """field → Σ coef · (x − mean): its push on the log-odds against the average record."""
    out: dict[str, float] = {}
    for c in model.columns:
        out[c.field] = out.get(c.field, 0.0) + c.coef * (column_value(c, row) - c.mean)
    return out


def _shown(f: Field, raw) -> tuple[str, str]:
    if f.kind == CATEGORY:
        v = _text(raw)
        if v is None:
            return "未知", "unknown"
        return str(f.values_zh.get(v, v)), str(f.values_en.get(v, v))
    return shown_number(raw, f.unit_zh, f.unit_en)


def reasons(model: Model, row: dict, limit: int = MAX_REASONS) -> list[dict]:
    """The fields that moved this record's score most, largest push first."""
    by_field = {f.name: f for f in model.fields}

    def describe(name: str) -> tuple[str, str, str, str]:
        f = by_field[name]
        return (f.label_zh, f.label_en, *_shown(f, row.get(name)))

    return explained(contributions(model, row), row, describe, limit)


def explain(model: Model, row: dict) -> dict:
    z = logit(model, row)
    return {"score": int(round(100 * sigmoid(z))), "probability": round(sigmoid(z), 4),
            "reasons": reasons(model, row)}


# -- publishing ----------------------------------------------------------------------------

def to_payload(model: Model) -> dict:
    """The model as plain JSON numbers (what ``scoring.lead_model_published`` carries)."""
    by_field = {f.name: f for f in model.fields}
    features = []
    for c in model.columns:
        f = by_field[c.field]
        entry = {"name": f"{c.field}={c.value}" if c.kind == CATEGORY else c.field,
                 "field": c.field, "kind": c.kind, "coef": round(c.coef, 6),
                 "mean": round(c.mean, 6), "label_zh": f.label_zh, "label_en": f.label_en}
        if c.kind == CATEGORY:
            entry.update(value=c.value, value_zh=f.values_zh.get(c.value, c.value),
                         value_en=f.values_en.get(c.value, c.value))
        else:
            entry.update(transform="log1p", center=round(c.center, 6),
                         scale=round(c.scale, 6), unit_zh=f.unit_zh, unit_en=f.unit_en)
        features.append(entry)
    return {"kind": model.kind, "intercept": round(model.intercept, 6),
            "baseline": round(model.baseline, 6),
            "fields": [{"field": f.name, "kind": f.kind, "label_zh": f.label_zh,
                        "label_en": f.label_en} for f in model.fields],
            "features": features, "samples": model.samples, "positives": model.positives,
            "test_samples": model.test_samples,
            "auc": None if model.auc is None else round(model.auc, 4)}


def from_payload(payload: dict, fields: tuple[Field, ...]) -> Model:
    """The published model back as a ``Model`` (the numbers as rounded when published)."""
    columns = [Column(field=e["field"], kind=e["kind"], value=e.get("value"),
                      center=float(e.get("center", 0.0)), scale=float(e.get("scale", 1.0)),
                      mean=float(e.get("mean", 0.0)), coef=float(e["coef"]))
               for e in payload.get("features", [])]
    return Model(payload.get("kind", ""), fields, columns, float(payload["intercept"]),
                 samples=payload.get("samples", 0), positives=payload.get("positives", 0),
                 test_samples=payload.get("test_samples", 0), auc=payload.get("auc"))
