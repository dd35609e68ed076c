"""The sales briefing (销售简报), rankings (排行榜) and series: definitions and arithmetic (pure).

A *metric* is a sum over the daily/monthly event rollups of some event types, either
their count or their amount. Periods are whole business days, ISO weeks (Monday
first) or calendar months in the business time zone; the briefing compares each
figure with the period just before.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.analytics.domain.envelope import from_cents
from services.analytics.domain.period import month_start, next_month

COUNT, AMOUNT = "count", "amount"
PERIODS = ("day", "week", "month")
SCOPES = ("me", "team", "company")


@dataclass(frozen=True)
class Metric:
    name: str
    types: tuple[str, ...]
    measure: str  # COUNT or AMOUNT (the money the types carry)
    label: str


METRICS = {m.name: m for m in (
    Metric("new_leads", ("lead.created",), COUNT, "新增线索"),
    Metric("lead_claims", ("lead.claimed",), COUNT, "领取线索"),
    Metric("follow_ups", ("lead.followed_up", "customer.followed_up"), COUNT, "跟进次数"),
    Metric("new_customers", ("customer.created",), COUNT, "新增客户"),
    Metric("new_opportunities", ("opportunity.created",), COUNT, "新增商机"),
    Metric("won_opportunities", ("opportunity.won",), COUNT, "赢单数"),
    Metric("won_amount", ("opportunity.won",), AMOUNT, "赢单金额"),
    Metric("lost_opportunities", ("opportunity.lost",), COUNT, "输单数"),
    Metric("contracts_signed", ("contract.signed",), COUNT, "签约合同数"),
    Metric("contract_amount", ("contract.signed",), AMOUNT, "签约金额"),
    Metric("payments", ("payment.received",), AMOUNT, "回款金额"),
    Metric("overdue_receivables", ("receivable.overdue",), COUNT, "逾期应收笔数"),
    Metric("overdue_amount", ("receivable.overdue",), AMOUNT, "逾期应收金额"),
    Metric("refunds", ("return.refunded",), AMOUNT, "退款金额"),
    Metric("tickets_opened", ("ticket.created",), COUNT, "新建工单"),
    Metric("tickets_resolved", ("ticket.resolved",), COUNT, "解决工单"),
)}
BRIEFING = tuple(METRICS)
RANKED = ("contract_amount", "payments", "follow_ups", "new_customers", "won_amount",
          "new_opportunities")


def period_days(period: str, day: date) -> tuple[date, date]:
    """[first, last] business days of the ``period`` containing ``day``."""
    if period == "day":
        return day, day
    if period == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    if period == "month":
        return month_start(day), next_month(day) - timedelta(days=1)
    raise ValueError(f"unknown period {period!r}")


def previous_days(period: str, first: date) -> tuple[date, date]:
    """The period just before the one starting on ``first``."""
    return period_days(period, first - timedelta(days=1))


def value(metric: Metric, count: int, cents: int) -> int:
    """The metric's figure: a count, or an amount in cents."""
    return count if metric.measure == COUNT else cents


def show(metric: Metric, figure: int) -> int | str:
    return figure if metric.measure == COUNT else from_cents(figure)


def change_rate(current: int, previous: int) -> str | None:
    """(current - previous) / previous as a decimal string with 4 places; None from zero."""
    if not previous:
        return None
    return f"{Decimal(current - previous) / Decimal(previous):.4f}"


def figure(metric: Metric, current: int, previous: int) -> dict:
    return {"metric": metric.name, "label": metric.label, "measure": metric.measure,
            "value": show(metric, current), "previous": show(metric, previous),
            "change": show(metric, current - previous),
            "change_rate": change_rate(current, previous)}


def rank(totals: dict[str, int], limit: int) -> list[dict]:
    """Owners by figure, highest first (ties by owner id); competition ranking (1, 1, 3)."""
    ordered = sorted(((v, o) for o, v in totals.items() if v), key=lambda x: (-x[0], x[1]))
    items, last, position = [], None, 0
    for i, (v, owner) in enumerate(ordered[:limit]):
        if v != last:
            position, last = i + 1, v
        items.append({"rank": position, "owner_id": owner, "value": v})
    return items


def weighted(amount: Decimal, probability: float | None) -> Decimal:
    """Amount × stage probability (percent, 0–100), to the cent."""
    if probability is None:
        return Decimal("0.00")
    share = Decimal(str(probability)) / 100
    return (amount * share).quantize(Decimal("0.01"))
