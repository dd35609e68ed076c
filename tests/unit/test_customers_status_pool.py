"""Customer status and public-pool (客户公海) rules: tables of cases, boundary days in
Asia/Shanghai."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crmkit.errors import Conflict
from services.customers.domain import rules

SH = ZoneInfo("Asia/Shanghai")


def sh(y, mo, d, h=0, mi=0, s=0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH).astimezone(UTC)


@pytest.mark.parametrize("signed, expected", [(1, "deal"), (2, "repeat"), (7, "repeat")])
def test_status_after_contract(signed, expected):
    assert rules.status_after_contract(signed) == expected


def test_status_after_contract_needs_the_contract_just_signed():
    with pytest.raises(ValueError):
        rules.status_after_contract(0)


@pytest.mark.parametrize("current, expected", [
    ("potential", "dormant"), ("intent", "dormant"), ("deal", "dormant"),
    ("repeat", "dormant"), ("dormant", None), ("lost", None)])
def test_churn_risk_makes_dormant_unless_lost(current, expected):
    assert rules.status_after_churn_risk(current) == expected


PLAN_AT = sh(2026, 3, 5, 10, 0)


@pytest.mark.parametrize("status, reminded, now, due", [
    ("planned", False, PLAN_AT - timedelta(minutes=31), False),   # before the lead time
    ("planned", False, PLAN_AT - timedelta(minutes=30), True),    # exactly lead time before
    ("planned", False, PLAN_AT - timedelta(minutes=5), True),
    ("planned", False, PLAN_AT + timedelta(hours=3), True),       # late job still reminds
    ("planned", True, PLAN_AT, False),                            # reminded once only
    ("done", False, PLAN_AT, False),
    ("cancelled", False, PLAN_AT, False),
])
def test_reminder_due(status, reminded, now, due):
    assert rules.reminder_due(status=status, reminded=reminded, scheduled_at=PLAN_AT, now=now,
                              lead_minutes=30) is due


RULES = rules.PoolRules(follow_up_days=15, deal_days=60,
                        per_level={"A": {"follow_up_days": 30, "deal_days": 0}},
                        max_customers_per_rep=2, max_locked_per_rep=1)
# claimed at 23:30 on 1 March in Shanghai (15:30 UTC, still 1 March in UTC too)
CLAIMED = sh(2026, 3, 1, 23, 30)


def reason(now, level="C", last_contact=None, last_deal=None, owner="u1", locked=False,
           merged=False, claimed=CLAIMED, rules_=RULES):
    return rules.return_reason(owner_id=owner, locked=locked, merged=merged, level=level,
                               created_at=sh(2026, 1, 1), claimed_at=claimed,
                               last_contact_at=last_contact, last_deal_at=last_deal, now=now,
                               rules=rules_)


@pytest.mark.parametrize("now, expected", [
    (sh(2026, 3, 15, 23, 59, 59), None),             # day 14: still the owner's
    (sh(2026, 3, 16, 0, 0, 0), "no_follow_up"),      # day 15 in Shanghai: back to the pool
    (sh(2026, 3, 16, 9, 0), "no_follow_up"),
    (sh(2026, 4, 30), "no_follow_up"),
    (sh(2026, 2, 20), None),                         # a clock in the past
])
def test_no_follow_up_boundary_day(now, expected):
    assert reason(now) == expected


def test_the_boundary_is_the_business_day_not_the_utc_day():
    # 16 March 00:30 in Shanghai is still 15 March in UTC: returned all the same
    now = sh(2026, 3, 16, 0, 30)
    assert now.date().day == 15
    assert reason(now) == "no_follow_up"


@pytest.mark.parametrize("last_contact, now, expected", [
    (sh(2026, 3, 10, 8), sh(2026, 3, 24, 23), None),          # 14 days after the follow-up
    (sh(2026, 3, 10, 8), sh(2026, 3, 25, 0, 1), "no_follow_up"),
    (sh(2026, 2, 1), sh(2026, 3, 10), None),                  # older than the claim: claim counts
])
def test_a_follow_up_restarts_the_clock(last_contact, now, expected):
    assert reason(now, last_contact=last_contact) == expected


@pytest.mark.parametrize("now, last_deal, expected", [
    (sh(2026, 4, 29, 23, 59), None, None),                    # day 59 since the claim
    (sh(2026, 4, 30, 0, 0), None, "no_deal"),                 # day 60
    (sh(2026, 4, 30, 0, 0), sh(2026, 4, 1), None),            # a deal on 1 April restarts it
    (sh(2026, 5, 30, 23, 59), sh(2026, 4, 1), None),
    (sh(2026, 5, 31), sh(2026, 4, 1), "no_deal"),
])
def test_no_deal_for_n_days(now, last_deal, expected):
    # followed up the day before, so only the deal rule can return it
    contact = now - timedelta(days=1)
    assert reason(now, last_contact=contact, last_deal=last_deal) == expected


@pytest.mark.parametrize("now, expected", [
    (sh(2026, 3, 30, 23, 59), None),                 # level A: 30 days, not 15
    (sh(2026, 3, 31, 0, 0), "no_follow_up"),
    (sh(2027, 1, 1), "no_follow_up"),
])
def test_per_level_days(now, expected):
    assert reason(now, level="A") == expected


def test_per_level_zero_switches_the_condition_off():
    contact = sh(2027, 5, 1)
    assert reason(sh(2027, 5, 2), level="A", last_contact=contact) is None      # no deal rule


@pytest.mark.parametrize("kwargs", [{"locked": True}, {"merged": True}, {"owner": None}])
def test_locked_merged_and_pool_customers_are_never_returned(kwargs):
    assert reason(sh(2030, 1, 1), **kwargs) is None


def test_rules_switched_off():
    off = rules.PoolRules(follow_up_days=None, deal_days=0)
    assert reason(sh(2030, 1, 1), rules_=off) is None
    assert off.shortest() == (None, None)
    assert RULES.shortest() == (15, 60)


def test_claimed_at_missing_counts_from_creation():
    assert reason(sh(2026, 1, 16), claimed=None) == "no_follow_up"
    assert reason(sh(2026, 1, 15, 23), claimed=None) is None


@pytest.mark.parametrize("owner, held, code", [
    (None, 0, None), (None, 1, None), (None, 2, "claim_limit_reached"),
    ("u2", 0, "customer_already_claimed"), ("u1", 0, "customer_already_claimed")])
def test_check_claim(owner, held, code):
    if code is None:
        rules.check_claim(owner_id=owner, claimant="u1", held=held, rules=RULES)
        return
    with pytest.raises(Conflict) as err:
        rules.check_claim(owner_id=owner, claimant="u1", held=held, rules=RULES)
    assert err.value.code == code


@pytest.mark.parametrize("locked, held, code", [
    (False, 0, None), (False, 1, "claim_limit_reached"), (True, 0, "customer_already_locked")])
def test_check_lock(locked, held, code):
    if code is None:
        rules.check_lock(locked=locked, locked_held=held, rules=RULES)
        return
    with pytest.raises(Conflict) as err:
        rules.check_lock(locked=locked, locked_held=held, rules=RULES)
    assert err.value.code == code
