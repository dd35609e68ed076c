from datetime import UTC, datetime, timedelta

import pytest

from crmkit.errors import Conflict
from services.leads.domain import rules

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
LIMITS = rules.PoolRules(follow_up_days=15, max_leads_per_rep=3, max_claims_per_day=2,
                         reclaim_cooldown_days=7)


def claim(**overrides):
    args = dict(owner_id=None, status="new", claimant="rep1", held=0, claimed_today=0,
                cooldown_until=None, previous_owner=None, now=NOW, rules=LIMITS)
    args.update(overrides)
    rules.check_claim(**args)


@pytest.mark.parametrize("overrides, code", [
    ({"owner_id": "rep2"}, "lead_already_claimed"),
    ({"owner_id": "rep1"}, "lead_already_claimed"),
    ({"status": "converted"}, "lead_closed"),
    ({"status": "invalid"}, "lead_closed"),
    ({"held": 3}, "claim_limit_reached"),
    ({"claimed_today": 2}, "claim_limit_reached"),
    ({"previous_owner": "rep1", "cooldown_until": NOW + timedelta(seconds=1)}, "reclaim_cooldown"),
])
def test_claim_refused(overrides, code):
    with pytest.raises(Conflict) as err:
        claim(**overrides)
    assert err.value.code == code
    assert err.value.status == 409


@pytest.mark.parametrize("overrides", [
    {},
    {"status": "following"},
    {"held": 2, "claimed_today": 1},
    {"previous_owner": "rep1", "cooldown_until": NOW},                        # cooldown over
    {"previous_owner": "rep2", "cooldown_until": NOW + timedelta(days=3)},    # not my cooldown
])
def test_claim_allowed(overrides):
    claim(**overrides)


def test_deadline_is_follow_up_days_after_the_moment():
    assert rules.follow_up_deadline(NOW, LIMITS) == NOW + timedelta(days=15)


@pytest.mark.parametrize("status, allowed", [
    ("new", True), ("following", True), ("converted", False), ("invalid", False)])
def test_follow_up_only_on_open_leads(status, allowed):
    assert rules.can_follow_up(status) is allowed
