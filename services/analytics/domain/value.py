"""Customer value (pure): RFM scores, the 80/20 share, the customer pyramid (客户金字塔),
profitability and the churn rule (流失预警). Definitions: docs/analytics.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

TIERS = ("platinum", "gold", "iron", "lead")  # top 1 %, next 4 %, next 15 %, the rest
TIER_SHARES = (Decimal("0.01"), Decimal("0.05"), Decimal("0.20"))  # cumulative
INACTIVE = "inactive"  # no net revenue yet
PURCHASE_OVERDUE, OPEN_COMPLAINT = "purchase_overdue", "open_complaint"


def quintile_scores(values: dict[str, float], higher_is_better: bool = True) -> dict[str, int]:
    """Score 1–5 by rank: the best fifth gets 5. Equal values get equal scores."""
    n = len(values)
    if n == 0:
        return {}
    ordered = sorted(values.values(), reverse=not higher_is_better)
    scores: dict[float, int] = {}
    for i, v in enumerate(ordered):  # worst first: the first index of a value decides
        scores.setdefault(v, 1 + (i * 5) // n)
    return {key: scores[v] for key, v in values.items()}


def rfm(customers: dict[str, tuple[float | None, int, int]]) -> dict[str, dict]:
    """``customers``: id → (days since last contract or None, contracts, net cents).

    R: fewer days is better (no contract = score 1), F: more contracts, M: more money."""
    recency = {k: (-v[0] if v[0] is not None else -math.inf) for k, v in customers.items()}
    r = quintile_scores(recency)
    f = quintile_scores({k: v[1] for k, v in customers.items()})
    m = quintile_scores({k: v[2] for k, v in customers.items()})
    return {k: {"r": r[k], "f": f[k], "m": m[k], "score": f"{r[k]}{f[k]}{m[k]}"}
            for k in customers}


def top_share(revenues: list[int], fraction: Decimal = Decimal("0.2")) -> dict:
    """Share of the revenue brought by the top ``fraction`` of customers (80/20)."""
    positive = sorted((v for v in revenues if v > 0), reverse=True)
    total = sum(positive)
    n = len(revenues)
    top = math.ceil(n * fraction) if n else 0
    top_sum = sum(positive[:top])
    return {"customers": n, "top_customers": top,
            "share": None if not total else f"{Decimal(top_sum) / Decimal(total):.4f}"}


def pyramid(revenues: dict[str, int]) -> dict[str, str]:
    """Tier per customer by rank of net revenue among the customers with revenue."""
    ranked = sorted(((v, k) for k, v in revenues.items() if v > 0), key=lambda x: (-x[0], x[1]))
    n, tiers = len(ranked), {}
    bounds = [math.ceil(n * s) for s in TIER_SHARES]
    for i, (_, key) in enumerate(ranked):
        tiers[key] = next((TIERS[j] for j, b in enumerate(bounds) if i < b), TIERS[-1])
    for key, v in revenues.items():
        if v <= 0:
            tiers[key] = INACTIVE
    return tiers


def mean_interval_days(first: datetime | None, last: datetime | None,
                       contracts: int) -> float | None:
    """Mean days between consecutive contracts: (last − first) / (n − 1); None below two."""
    if contracts < 2 or first is None or last is None:
        return None
    return (last - first).total_seconds() / 86400 / (contracts - 1)


@dataclass(frozen=True)
class ChurnCheck:
    at_risk: bool
    reason: str | None
    silence_days: float | None
    mean_interval_days: float | None


def churn(now: datetime, first: datetime | None, last: datetime | None, contracts: int,
          open_complaints: int, multiple: float) -> ChurnCheck:
    """At risk when silent longer than ``multiple`` × the mean purchase interval, or with
    open complaints. Purchase overdue is the reason when both hold."""
    interval = mean_interval_days(first, last, contracts)
    silence = None if last is None else (now - last).total_seconds() / 86400
    if interval is not None and interval > 0 and silence is not None \
            and silence > multiple * interval:
        return ChurnCheck(True, PURCHASE_OVERDUE, silence, interval)
    if open_complaints > 0:
        return ChurnCheck(True, OPEN_COMPLAINT, silence, interval)
    return ChurnCheck(False, None, silence, interval)


def profitability(revenue_cents: int, refund_cents: int, workload_centihours: int,
                  hourly_cost_cents: int) -> int:
    """Contribution in cents: revenue − refunds − service hours × hourly cost."""
    return revenue_cents - refund_cents - (workload_centihours * hourly_cost_cents) // 100
