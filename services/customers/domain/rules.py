"""Customer vocabulary and rules as pure functions."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from crmkit import timeutil
from crmkit.errors import Conflict

TYPES = ("company", "individual")
LEVELS = ("A", "B", "C", "D")          # A 重点 key, B 重要 important, C 普通 normal, D 小 small
STATUSES = ("potential", "intent", "deal", "repeat", "dormant", "lost")
FOLLOW_UP_KINDS = ("call", "visit", "email", "wechat", "meeting", "other")
PLAN_STATUSES = ("planned", "done", "cancelled")


def customer_from_lead(data: dict) -> dict:
    """The customer a converted lead becomes: its company (or the person) as the customer."""
    company = (data.get("company") or "").strip()
    return {
        "name": company or data["name"],
        "type": "company" if company else "individual",
        "industry": data.get("industry"), "region": data.get("region"),
        "phone": data.get("phone"), "email": data.get("email"),
        "source": data.get("source"), "tags": list(data.get("tags") or []),
        "level": "C", "status": "intent",
        "owner_id": data.get("owner_id"), "lead_id": data["lead_id"],
    }


def primary_contact_from_lead(data: dict) -> dict:
    return {"name": data["name"], "title": data.get("title"), "phone": data.get("phone"),
            "email": data.get("email"), "is_primary": True}


# -- status follows the business --------------------------------------------------------------

def status_after_contract(contracts_signed: int) -> str:
    """Status once ``contracts_signed`` distinct contracts (this one included) are signed:
    the first makes the customer ``deal`` (成交), any later one ``repeat`` (复购)."""
    if contracts_signed < 1:
        raise ValueError("at least the contract just signed counts")
    return "deal" if contracts_signed == 1 else "repeat"


def status_after_churn_risk(current: str) -> str | None:
    """Analytics' churn warning makes the customer ``dormant`` (沉睡); a lost customer stays
    lost and a dormant one has nothing to change (None: no change)."""
    if current in ("lost", "dormant"):
        return None
    return "dormant"


# -- plans and reminders -----------------------------------------------------------------------

def reminder_due(*, status: str, reminded: bool, scheduled_at: datetime, now: datetime,
                 lead_minutes: int) -> bool:
    """A planned visit is reminded once, ``lead_minutes`` before its time (or late, if the job
    was not running then)."""
    if status != "planned" or reminded:
        return False
    return now >= scheduled_at - timedelta(minutes=lead_minutes)


# -- the customer public pool (客户公海) --------------------------------------------------------

@dataclass(frozen=True)
class PoolRules:
    """``None`` (or 0) for a number of days switches that condition off."""

    follow_up_days: int | None = 30          # no follow-up for N days -> back to the pool
    deal_days: int | None = 90               # no deal for N days since claimed -> back
    per_level: dict = field(default_factory=dict)   # {"A": {"follow_up_days": 60, ...}}
    max_customers_per_rep: int = 300
    max_locked_per_rep: int = 20

    def for_level(self, level: str) -> tuple[int | None, int | None]:
        override = self.per_level.get(level) or {}
        follow_up = override.get("follow_up_days", self.follow_up_days)
        deal = override.get("deal_days", self.deal_days)
        return (follow_up or None, deal or None)

    def shortest(self) -> tuple[int | None, int | None]:
        """The smallest thresholds over every level (a cheap SQL pre-filter)."""
        follow_ups = [f for f, _ in map(self.for_level, LEVELS) if f]
        deals = [d for _, d in map(self.for_level, LEVELS) if d]
        return (min(follow_ups) if follow_ups else None, min(deals) if deals else None)

    def to_dict(self) -> dict:
        return asdict(self)


def elapsed_days(since: datetime, now: datetime) -> int:
    """Whole calendar days between two moments, counted in the business time zone."""
    return (timeutil.business_day(now) - timeutil.business_day(since)).days


def return_reason(*, owner_id: str | None, locked: bool, merged: bool, level: str,
                  created_at: datetime, claimed_at: datetime | None,
                  last_contact_at: datetime | None, last_deal_at: datetime | None,
                  now: datetime, rules: PoolRules) -> str | None:
    """Why this customer goes back to the pool today (``no_follow_up`` / ``no_deal``), or None.

    Days count from when the current owner got the customer (claimed, or created) or from the
    later follow-up / deal; the customer is returned on the N-th calendar day after it.
    Locked (锁定) and merged customers are never returned.
    """
    if owner_id is None or locked or merged:
        return None
    follow_up_days, deal_days = rules.for_level(level)
    start = claimed_at or created_at
    if follow_up_days:
        since = max(t for t in (start, last_contact_at) if t is not None)
        if elapsed_days(since, now) >= follow_up_days:
            return "no_follow_up"
    if deal_days:
        since = max(t for t in (start, last_deal_at) if t is not None)
        if elapsed_days(since, now) >= deal_days:
            return "no_deal"
    return None


def check_claim(*, owner_id: str | None, claimant: str, held: int, rules: PoolRules) -> None:
    """Raise Conflict unless ``claimant`` may take this pool customer now."""
    if owner_id is not None:
        raise Conflict("customer_already_claimed", "the customer already has an owner",
                       {"owner_id": owner_id if owner_id == claimant else None})
    if held >= rules.max_customers_per_rep:
        raise Conflict("claim_limit_reached", "you hold the maximum number of customers",
                       {"limit": "max_customers_per_rep", "value": rules.max_customers_per_rep})


def check_lock(*, locked: bool, locked_held: int, rules: PoolRules) -> None:
    if locked:
        raise Conflict("customer_already_locked", "the customer is already locked")
    if locked_held >= rules.max_locked_per_rep:
        raise Conflict("claim_limit_reached", "the owner holds the maximum of locked customers",
                       {"limit": "max_locked_per_rep", "value": rules.max_locked_per_rep})
