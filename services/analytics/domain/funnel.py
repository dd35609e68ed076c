"""The sales funnel (销售漏斗图) from counts: stage order and conversion rates (pure).

Stages come in the pipeline's declared order when ``pipeline.created`` was seen;
stages only discovered from opportunity events (the default pipeline may never have
announced itself) follow by win probability, then in the order first seen. Lost
stages (输单) are not steps of the funnel: a lost opportunity counts in the stages it
reached before.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.analytics.domain.envelope import from_cents

WON, LOST, OPEN = "won", "lost", "open"


@dataclass(frozen=True)
class StageInfo:
    name: str
    position: int
    probability: float | None = None
    kind: str = OPEN
    declared: bool = False


def order_stages(stages: list[StageInfo]) -> list[str]:
    steps = [s for s in stages if s.kind != LOST]
    declared = sorted((s for s in steps if s.declared), key=lambda s: s.position)
    discovered = sorted((s for s in steps if not s.declared),
                        key=lambda s: (s.probability is None, s.probability or 0.0,
                                       s.kind == WON, s.position))
    return [s.name for s in declared] + [s.name for s in discovered]


def rate(numerator: int | None, denominator: int | None) -> str | None:
    """``numerator / denominator`` as a decimal string with 4 places; None when undefined."""
    if numerator is None or not denominator:
        return None
    return f"{Decimal(numerator) / Decimal(denominator):.4f}"


def stage_steps(order: list[str], counts: dict[str, tuple[int, int]],
                lost: set[str] = frozenset()) -> list[dict]:
    """``counts``: stage → (opportunities that reached it, their amount in cents)."""
    names = list(order) + sorted(s for s in counts if s not in order and s not in lost)
    steps, previous = [], None
    for name in names:
        count, cents = counts.get(name, (0, 0))
        steps.append({"stage": name, "count": count, "amount": from_cents(cents),
                      "conversion_rate": None if previous is None else rate(count, previous)})
        previous = count
    return steps


def overall(leads: int | None, customers: int, opportunities: int, won: int) -> dict:
    return {
        "leads": leads, "customers": customers, "opportunities": opportunities, "won": won,
        "lead_to_customer": rate(customers, leads),
        "customer_to_opportunity": rate(opportunities, customers),
        "opportunity_to_won": rate(won, opportunities),
    }
