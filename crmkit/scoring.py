"""The arithmetic of an explainable logistic score, shared by who fits a model (analytics)
and who applies the published one to its own records (leads): one formula, one wording of
the reasons, wherever the score is computed.
"""
from __future__ import annotations

import math

REASON_THRESHOLD = 0.05     # |contribution| below this is not worth showing
MAX_REASONS = 5


def text(value) -> str | None:
    """A category value as the model sees it (empty → None)."""
    return None if value is None or value == "" else str(value)


def number(value) -> float:
    """A numeric value as the model sees it: finite and positive, else 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) and x > 0 else 0.0


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def shown_number(raw, unit_zh: str = "", unit_en: str = "") -> tuple[str, str]:
    """A numeric field's value as a reason shows it, in Chinese and English."""
    x = number(raw)
    shown = f"{x:.0f}" if abs(x - round(x)) < 1e-9 or x >= 10 else f"{x:.1f}"
    return f"{shown}{unit_zh}", f"{shown}{(' ' + unit_en) if unit_en else ''}"


def reasons(contributions: dict[str, float], row: dict, describe,
            limit: int = MAX_REASONS) -> list[dict]:
    """The fields that moved a record's score most, largest push first.

    ``contributions``: field → its push on the log-odds; ``describe(field)`` →
    ``(label_zh, label_en, value_zh, value_en)`` of that field for this record."""
    found = []
    for name, value in contributions.items():
        if abs(value) < REASON_THRESHOLD:
            continue
        label_zh, label_en, zh, en = describe(name)
        found.append({"feature": name, "value": None if row.get(name) is None
                      else str(row.get(name)),
                      "label_zh": f"{label_zh}：{zh}", "label_en": f"{label_en}: {en}",
                      "contribution": round(value, 3),
                      "direction": "up" if value > 0 else "down"})
    found.sort(key=lambda r: (-abs(r["contribution"]), r["feature"]))
    return found[:limit]
