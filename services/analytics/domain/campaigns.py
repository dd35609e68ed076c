"""Campaign ROI (the promotion P of 7P) as pure arithmetic on integer cents and counts.

Every money figure is a decimal string with 2 places, ROI and rates with 4 places, rounded
half up; a ratio over zero is ``None`` (JSON null), never an error or infinity.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RATE = Decimal("0.0001")


@dataclass(frozen=True)
class Tally:
    """What a campaign brought, as counted from the read models (money in cents)."""

    leads: int = 0
    customers: int = 0          # converted: customers created from the campaign's leads
    opportunities: int = 0      # of those customers (open, won and lost)
    won_opportunities: int = 0
    won_opportunity_cents: int = 0
    won_customers: int = 0      # with a signed contract or a won opportunity
    revenue_cents: int = 0      # Σ signed contract totals of those customers
    refund_cents: int = 0       # Σ refunds of those customers

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))


def _values(t: Tally) -> tuple[int, ...]:
    return (t.leads, t.customers, t.opportunities, t.won_opportunities,
            t.won_opportunity_cents, t.won_customers, t.revenue_cents, t.refund_cents)


def money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(CENT, ROUND_HALF_UP))


def ratio(numerator: Decimal, denominator: Decimal, places: Decimal) -> str | None:
    if not denominator:
        return None
    return str((numerator / denominator).quantize(places, ROUND_HALF_UP))


def figures(budget_cents: int, tally: Tally) -> dict:
    """The report's figures for one campaign (or a total) of budget ``budget_cents``.

    won amount = revenue − refunds (net revenue, as customer value defines it);
    cost per lead = budget / leads; cost per won customer = budget / won customers;
    ROI = (won amount − budget) / budget."""
    budget = Decimal(budget_cents) / 100
    won = Decimal(tally.revenue_cents - tally.refund_cents) / 100
    return {
        "budget": money(budget_cents),
        "leads": tally.leads,
        "customers": tally.customers,
        "opportunities": tally.opportunities,
        "won_opportunities": tally.won_opportunities,
        "won_opportunity_amount": money(tally.won_opportunity_cents),
        "won_customers": tally.won_customers,
        "revenue": money(tally.revenue_cents),
        "refunds": money(tally.refund_cents),
        "won_amount": money(tally.revenue_cents - tally.refund_cents),
        "cost_per_lead": ratio(budget, Decimal(tally.leads), CENT),
        "cost_per_won_customer": ratio(budget, Decimal(tally.won_customers), CENT),
        "lead_conversion_rate": ratio(Decimal(tally.customers), Decimal(tally.leads), RATE),
        "roi": ratio(won - budget, budget, RATE),
    }
