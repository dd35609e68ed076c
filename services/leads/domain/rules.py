"""The public pool's rules as pure functions of data and a clock.

Deadline semantics (see README): a deadline is a moment; the owner has the whole business
day (``CRM_TIMEZONE``, Asia/Shanghai) on which it falls. A lead is due for return when the
current business day is AFTER the deadline's business day, i.e. from 00:00 local time of the
next day. The warning is due from ``warn_days_before`` business days before the deadline's
day (0 = no warning).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from crmkit import timeutil
from crmkit.errors import Conflict

SOURCES = ("website", "expo", "referral", "cold_call", "ad", "import", "other")
STATUSES = ("new", "following", "converted", "invalid")
FOLLOW_UP_KINDS = ("call", "visit", "email", "wechat", "meeting", "other")
CLOSED = ("converted", "invalid")
OVERDUE, NOT_CONVERTED = "overdue", "not_converted"


@dataclass(frozen=True)
class ReturnCondition:
    """For leads whose source is in ``sources`` (None: every source): return after
    ``no_follow_up_days`` without a follow-up (None: the pool's ``follow_up_days``) and/or
    ``not_converted_days`` after the claim without conversion (None: never)."""

    sources: tuple[str, ...] | None = None
    no_follow_up_days: int | None = None
    not_converted_days: int | None = None

    def matches(self, source: str | None) -> bool:
        return self.sources is None or source in self.sources


@dataclass(frozen=True)
class PoolRules:
    follow_up_days: int = 15
    max_leads_per_rep: int = 200
    max_claims_per_day: int = 50
    reclaim_cooldown_days: int = 7
    warn_days_before: int = 2
    return_conditions: tuple[ReturnCondition, ...] = field(default_factory=tuple)

    def condition_for(self, source: str | None) -> ReturnCondition:
        """The first condition naming ``source`` (or every source); else the pool default."""
        for condition in self.return_conditions:
            if condition.matches(source):
                return condition
        return ReturnCondition()

    def as_dict(self) -> dict:
        return {
            "follow_up_days": self.follow_up_days, "max_leads_per_rep": self.max_leads_per_rep,
            "max_claims_per_day": self.max_claims_per_day,
            "reclaim_cooldown_days": self.reclaim_cooldown_days,
            "warn_days_before": self.warn_days_before,
            "return_conditions": [
                {"sources": list(c.sources) if c.sources is not None else None,
                 "no_follow_up_days": c.no_follow_up_days,
                 "not_converted_days": c.not_converted_days}
                for c in self.return_conditions],
        }

    @classmethod
    def from_dict(cls, data: dict) -> PoolRules:
        conditions = tuple(
            ReturnCondition(tuple(c["sources"]) if c.get("sources") is not None else None,
                            c.get("no_follow_up_days"), c.get("not_converted_days"))
            for c in data.get("return_conditions") or ())
        return cls(data.get("follow_up_days", 15), data.get("max_leads_per_rep", 200),
                   data.get("max_claims_per_day", 50), data.get("reclaim_cooldown_days", 7),
                   data.get("warn_days_before", 2), conditions)


def follow_up_deadline(moment: datetime, rules: PoolRules, source: str | None = None) -> datetime:
    """A claim or a follow-up at ``moment`` gives the owner the source's no-follow-up days."""
    days = rules.condition_for(source).no_follow_up_days or rules.follow_up_days
    return moment + timedelta(days=days)


def convert_deadline(claimed_at: datetime | None, rules: PoolRules,
                     source: str | None = None) -> datetime | None:
    """The moment an unconverted lead goes back, counted from the claim; None: never."""
    days = rules.condition_for(source).not_converted_days
    if claimed_at is None or not days:
        return None
    return claimed_at + timedelta(days=days)


@dataclass(frozen=True)
class Deadlines:
    follow_up: datetime | None
    convert: datetime | None

    @property
    def due(self) -> datetime | None:
        """The earlier of the two: when the lead goes back unless something happens."""
        present = [d for d in (self.follow_up, self.convert) if d is not None]
        return min(present) if present else None


def deadlines(*, source: str | None, claimed_at: datetime | None,
              last_follow_up_at: datetime | None, rules: PoolRules) -> Deadlines:
    """The deadlines of an owned lead: "no follow-up for N days" counts from its last
    follow-up (one recorded late counts from when it happened), or from the claim while it
    has none; conversion counts from the claim. A claim, assignment or transfer clears
    ``last_follow_up_at``, so a new owner's clock starts at their claim."""
    basis = last_follow_up_at or claimed_at
    return Deadlines(follow_up_deadline(basis, rules, source) if basis else None,
                     convert_deadline(claimed_at, rules, source))


def day_start(day: date) -> datetime:
    """00:00 of business day ``day`` as an aware UTC moment."""
    return datetime.combine(day, time(0), tzinfo=timeutil.business_tz()).astimezone(timeutil.UTC)


def return_cutoff(now: datetime) -> datetime:
    """Deadlines strictly before this moment are past (their business day is over)."""
    return day_start(timeutil.business_day(now))


def warn_cutoff(now: datetime, warn_days_before: int) -> datetime | None:
    """Deadlines strictly before this moment are within the warning window; None: no warning."""
    if warn_days_before <= 0:
        return None
    return day_start(timeutil.business_day(now) + timedelta(days=warn_days_before + 1))


def is_past(deadline: datetime | None, now: datetime) -> bool:
    """The deadline's business day is over."""
    return deadline is not None and timeutil.aware(deadline) < return_cutoff(now)


def return_reason(*, follow_up: datetime | None, convert: datetime | None, locked: bool,
                  owner_id: str | None, status: str, now: datetime) -> str | None:
    """Why an owned lead goes back to the pool now (``overdue`` first), or None."""
    if locked or owner_id is None or status in CLOSED:
        return None
    if is_past(follow_up, now):
        return OVERDUE
    if is_past(convert, now):
        return NOT_CONVERTED
    return None


def warning_due(*, due: datetime | None, warned_for: datetime | None, warn_days_before: int,
                locked: bool, owner_id: str | None, status: str, now: datetime) -> bool:
    """Warn the owner once per deadline: within the window, not past, not yet warned for it."""
    if locked or owner_id is None or status in CLOSED or due is None:
        return False
    cutoff = warn_cutoff(now, warn_days_before)
    if cutoff is None or is_past(due, now) or timeutil.aware(due) >= cutoff:
        return False
    return warned_for is None or timeutil.aware(warned_for) != timeutil.aware(due)


def check_claim(*, owner_id: str | None, status: str, claimant: str, held: int,
                claimed_today: int, cooldown_until: datetime | None, previous_owner: str | None,
                now: datetime, rules: PoolRules) -> None:
    """Raise Conflict unless ``claimant`` may claim this lead now."""
    if status in CLOSED:
        raise Conflict("lead_closed", f"a {status} lead cannot be claimed")
    if owner_id is not None:
        raise Conflict("lead_already_claimed", "the lead already has an owner",
                       {"owner_id": owner_id if owner_id == claimant else None})
    if previous_owner == claimant and cooldown_until is not None \
            and now < timeutil.aware(cooldown_until):
        raise Conflict("reclaim_cooldown", "you released this lead recently",
                       {"until": timeutil.iso(cooldown_until)})
    if held >= rules.max_leads_per_rep:
        raise Conflict("claim_limit_reached", "you hold the maximum number of leads",
                       {"limit": "max_leads_per_rep", "value": rules.max_leads_per_rep})
    if claimed_today >= rules.max_claims_per_day:
        raise Conflict("claim_limit_reached", "you reached today's claim limit",
                       {"limit": "max_claims_per_day", "value": rules.max_claims_per_day})


def can_follow_up(status: str) -> bool:
    return status not in CLOSED


def may_work_pool(*, pool: str, role: str, user_id: str | None, members: set[str]) -> bool:
    """The default pool is everyone's; a named pool is its members' (and admins'/managers')."""
    return pool == "default" or role in ("admin", "manager", "system") or user_id in members
