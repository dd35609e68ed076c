"""The public pool's rules as pure functions of data and a clock."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crmkit.errors import Conflict

SOURCES = ("website", "expo", "referral", "cold_call", "ad", "import", "other")
STATUSES = ("new", "following", "converted", "invalid")
FOLLOW_UP_KINDS = ("call", "visit", "email", "wechat", "meeting", "other")
CLOSED = ("converted", "invalid")


@dataclass(frozen=True)
class PoolRules:
    follow_up_days: int = 15
    max_leads_per_rep: int = 200
    max_claims_per_day: int = 50
    reclaim_cooldown_days: int = 7
    warn_days_before: int = 2


def follow_up_deadline(moment: datetime, rules: PoolRules) -> datetime:
    """A claim or a follow-up at ``moment`` gives the owner ``follow_up_days`` more."""
    return moment + timedelta(days=rules.follow_up_days)


def check_claim(*, owner_id: str | None, status: str, claimant: str, held: int,
                claimed_today: int, cooldown_until: datetime | None, previous_owner: str | None,
                now: datetime, rules: PoolRules) -> None:
    """Raise Conflict unless ``claimant`` may claim this lead now."""
    if owner_id is not None:
        raise Conflict("lead_already_claimed", "the lead already has an owner",
                       {"owner_id": owner_id if owner_id == claimant else None})
    if status in CLOSED:
        raise Conflict("lead_closed", f"a {status} lead cannot be claimed")
    if previous_owner == claimant and cooldown_until is not None and now < cooldown_until:
        raise Conflict("reclaim_cooldown", "you released this lead recently",
                       {"until": cooldown_until.isoformat()})
    if held >= rules.max_leads_per_rep:
        raise Conflict("claim_limit_reached", "you hold the maximum number of leads",
                       {"limit": "max_leads_per_rep", "value": rules.max_leads_per_rep})
    if claimed_today >= rules.max_claims_per_day:
        raise Conflict("claim_limit_reached", "you reached today's claim limit",
                       {"limit": "max_claims_per_day", "value": rules.max_claims_per_day})


def can_follow_up(status: str) -> bool:
    return status not in CLOSED
