"""What the scoring models learn from (pure): each lead's and each customer's history, built
from logged events in any order, and its features as of a moment. Definitions:
docs/analytics.md § Scoring.

Both models look at the history through cutoffs, so that a sample's features never see its
label: for each cutoff T = now − k·W (k = 1…``CUTOFFS``, W the model's window)

* lead conversion: one sample per lead that was open at T (created before T, not converted
  by then): its features as of T, label 1 when it was converted in (T, T + W];
* customer repurchase: one sample per customer that existed before T: its features as of
  T, label 1 when it signed a contract in (T, T + W].

A score is then the probability, from the features as of now, that the lead converts / the
customer signs within the next W days. Time order (for the held-out split) is the cutoff.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from crmkit import timeutil
from services.analytics.scoring_model import CATEGORY, NUMERIC, Field

DAY = 86400.0
CUTOFFS = 6

SOURCES_ZH = {"website": "官网", "expo": "展会", "referral": "转介绍", "cold_call": "电话陌拜",
              "ad": "广告", "import": "导入", "other": "其他"}
SOURCES_EN = {"website": "website", "expo": "expo", "referral": "referral",
              "cold_call": "cold call", "ad": "advertising", "import": "import",
              "other": "other"}
LEVELS_ZH = {"A": "A 级", "B": "B 级", "C": "C 级", "D": "D 级"}
LEVELS_EN = {"A": "level A", "B": "level B", "C": "level C", "D": "level D"}

LEAD_FIELDS = (
    Field("source", CATEGORY, "来源", "Source", values_zh=SOURCES_ZH, values_en=SOURCES_EN),
    Field("campaign_id", CATEGORY, "市场活动", "Campaign"),
    Field("industry", CATEGORY, "行业", "Industry"),
    Field("region", CATEGORY, "地区", "Region"),
    Field("follow_ups", NUMERIC, "跟进次数", "Follow-ups", "次", ""),
    Field("days_since_follow_up", NUMERIC, "距上次跟进", "Since last follow-up", "天", "days"),
    Field("age_days", NUMERIC, "线索天数", "Lead age", "天", "days"),
)

CUSTOMER_FIELDS = (
    Field("recency_days", NUMERIC, "距上次购买", "Since last purchase", "天", "days"),
    Field("frequency", NUMERIC, "购买次数", "Purchases", "次", ""),
    Field("monetary", NUMERIC, "净消费额", "Net spend", "元", "CNY"),
    Field("level", CATEGORY, "客户级别", "Level", values_zh=LEVELS_ZH, values_en=LEVELS_EN),
    Field("industry", CATEGORY, "行业", "Industry"),
    Field("follow_ups", NUMERIC, "近期跟进", "Recent follow-ups", "次", ""),
    Field("tickets", NUMERIC, "工单数", "Tickets", "个", ""),
    Field("returns", NUMERIC, "退货次数", "Returns", "次", ""),
)

LEAD_TYPES = ("lead.created", "lead.updated", "lead.claimed", "lead.released",
              "lead.assigned", "lead.followed_up", "lead.converted", "lead.transferred",
              "lead.returned_to_pool", "lead.locked", "lead.unlocked")
CUSTOMER_TYPES = ("customer.created", "customer.updated", "customer.level_changed",
                  "customer.followed_up", "customer.merged", "contract.signed",
                  "return.requested", "return.refunded", "ticket.created", "lead.converted")


def _text(value) -> str | None:
    return None if value is None or value == "" else str(value)


def _time(value, default: datetime) -> datetime:
    if value in (None, ""):
        return default
    try:
        return timeutil.parse_time(value)
    except (TypeError, ValueError):
        return default


def _money(value) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal(0)


def _days(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds() / DAY)


class _Latest:
    """A field's value from the newest event that carried it (any delivery order)."""

    def __init__(self):
        self.values: dict[str, tuple[datetime, str, str | None]] = {}

    def offer(self, name: str, at: datetime, event_id: str, value) -> None:
        current = self.values.get(name)
        if current is None or (at, event_id) > current[:2]:
            self.values[name] = (at, event_id, _text(value))

    def get(self, name: str) -> str | None:
        v = self.values.get(name)
        return v[2] if v else None


def _carried(data: dict, name: str):
    """(present, value): the field itself, or the ``to`` of a ``changes`` entry."""
    if name in data:
        return True, data[name]
    change = (data.get("changes") or {}).get(name)
    if isinstance(change, dict) and "to" in change:
        return True, change["to"]
    return False, None


# -- leads ---------------------------------------------------------------------------------

@dataclass
class LeadHistory:
    lead_id: str
    created_at: datetime
    attrs: _Latest = field(default_factory=_Latest)
    follow_ups: list[datetime] = field(default_factory=list)
    converted_at: datetime | None = None


LEAD_ATTRS = ("source", "campaign_id", "industry", "region")


def lead_histories(events) -> dict[str, LeadHistory]:
    """``events``: (id, type, occurred_at, data) of lead events, any order."""
    leads: dict[str, LeadHistory] = {}
    for eid, etype, at, data in events:
        lid = _text(data.get("lead_id"))
        if lid is None or not etype.startswith("lead."):
            continue
        h = leads.get(lid)
        if h is None:
            h = leads[lid] = LeadHistory(lid, at)
        h.created_at = min(h.created_at, at)
        for name in LEAD_ATTRS:
            present, value = _carried(data, name)
            if present:
                h.attrs.offer(name, at, eid, value)
        if etype == "lead.followed_up":
            h.follow_ups.append(_time(data.get("occurred_at"), at))
        elif etype == "lead.converted":
            h.converted_at = at if h.converted_at is None else min(h.converted_at, at)
    return leads


def lead_row(h: LeadHistory, at: datetime) -> dict:
    """The lead's features as of ``at`` (the fields the leads service has too)."""
    done = [t for t in h.follow_ups if t <= at]
    last = max(done) if done else h.created_at
    return {**{n: h.attrs.get(n) for n in LEAD_ATTRS}, "follow_ups": len(done),
            "days_since_follow_up": _days(at, last), "age_days": _days(at, h.created_at)}


def lead_samples(leads: dict[str, LeadHistory], now: datetime, window_days: float,
                 cutoffs: int = CUTOFFS) -> list[tuple]:
    """(cutoff, row, converted in the window after it) per cutoff and lead open at it."""
    out = []
    w = timedelta(days=window_days)
    for k in range(cutoffs, 0, -1):
        cut = now - k * w
        for lid in sorted(leads):
            h = leads[lid]
            if h.created_at >= cut or (h.converted_at is not None and h.converted_at <= cut):
                continue
            converted = h.converted_at is not None and h.converted_at <= cut + w
            out.append((cut, lead_row(h, cut), 1 if converted else 0))
    return out


# -- customers -----------------------------------------------------------------------------

@dataclass
class CustomerHistory:
    customer_id: str
    created_at: datetime
    attrs: _Latest = field(default_factory=_Latest)
    lead_id: str | None = None
    contracts: list[tuple[datetime, Decimal]] = field(default_factory=list)
    refunds: list[tuple[datetime, Decimal]] = field(default_factory=list)
    returns: list[datetime] = field(default_factory=list)
    tickets: list[datetime] = field(default_factory=list)
    follow_ups: list[datetime] = field(default_factory=list)


def merged_into(events) -> dict[str, str]:
    """merged id → survivor id (chains followed) from ``customer.merged`` events."""
    direct = {}
    for _, etype, _, data in events:
        if etype == "customer.merged" and data.get("merged_id") and data.get("survivor_id"):
            if str(data["merged_id"]) != str(data["survivor_id"]):
                direct[str(data["merged_id"])] = str(data["survivor_id"])
    out = {}
    for merged in direct:
        target, seen = direct[merged], {merged}
        while target in direct and target not in seen:
            seen.add(target)
            target = direct[target]
        out[merged] = target
    return out


def customer_histories(events) -> dict[str, CustomerHistory]:
    """``events``: (id, type, occurred_at, data) of ``CUSTOMER_TYPES``, any order."""
    events = list(events)
    survivor = merged_into(events)
    industry_of_lead: dict[str, _Latest] = {}
    customers: dict[str, CustomerHistory] = {}

    def of(cid, at) -> CustomerHistory:
        cid = survivor.get(cid, cid)
        h = customers.get(cid)
        if h is None:
            h = customers[cid] = CustomerHistory(cid, at)
        h.created_at = min(h.created_at, at)
        return h

    for eid, etype, at, data in events:
        if etype == "lead.converted":
            lid = _text(data.get("lead_id"))
            if lid:
                industry_of_lead.setdefault(lid, _Latest()).offer("industry", at, eid,
                                                                  data.get("industry"))
            continue
        cid = _text(data.get("customer_id"))
        if cid is None or etype == "customer.merged":
            continue
        h = of(cid, at)
        for name in ("level", "industry"):
            present, value = _carried(data, name)
            if etype == "customer.level_changed" and name == "level":
                present, value = "to" in data, data.get("to")
            if present and etype.startswith("customer."):
                h.attrs.offer(name, at, eid, value)
        if etype == "customer.created" and data.get("lead_id"):
            h.lead_id = str(data["lead_id"])
        elif etype == "contract.signed":
            h.contracts.append((_time(data.get("signed_at"), at), _money(data.get("total"))))
        elif etype == "return.requested":
            h.returns.append(at)
        elif etype == "return.refunded":
            h.refunds.append((at, _money(data.get("refund_amount"))))
        elif etype == "ticket.created":
            h.tickets.append(at)
        elif etype == "customer.followed_up":
            h.follow_ups.append(_time(data.get("happened_at"), at))
    for h in customers.values():
        if h.attrs.get("industry") is None and h.lead_id in industry_of_lead:
            lead = industry_of_lead[h.lead_id].values["industry"]
            h.attrs.offer("industry", lead[0], lead[1], lead[2])
        h.created_at = min([h.created_at] + [t for t, _ in h.contracts])
    return customers


def customer_row(h: CustomerHistory, at: datetime, window_days: float) -> dict:
    """The customer's features as of ``at`` (follow-ups: those in the window before it)."""
    signed = [t for t, _ in h.contracts if t <= at]
    spent = sum((a for t, a in h.contracts if t <= at), Decimal(0)) \
        - sum((a for t, a in h.refunds if t <= at), Decimal(0))
    since = max(signed) if signed else h.created_at
    window = at - timedelta(days=window_days)
    return {"recency_days": _days(at, since), "frequency": len(signed),
            "monetary": float(max(spent, Decimal(0))), "level": h.attrs.get("level"),
            "industry": h.attrs.get("industry"),
            "follow_ups": sum(1 for t in h.follow_ups if window < t <= at),
            "tickets": sum(1 for t in h.tickets if t <= at),
            "returns": sum(1 for t in h.returns if t <= at)}


def bought_within(h: CustomerHistory, start: datetime, end: datetime) -> bool:
    return any(start < t <= end for t, _ in h.contracts)


def customer_samples(customers: dict[str, CustomerHistory], now: datetime,
                     window_days: float, cutoffs: int = CUTOFFS) -> list[tuple]:
    """(cutoff, row, bought in the window after it) per customer and cutoff."""
    out = []
    w = timedelta(days=window_days)
    for k in range(cutoffs, 0, -1):
        cut = now - k * w
        for cid in sorted(customers):
            h = customers[cid]
            if h.created_at >= cut:
                continue
            out.append((cut, customer_row(h, cut, window_days),
                        1 if bought_within(h, cut, cut + w) else 0))
    return out
