"""The pool's return/warning rules around the boundary day (Asia/Shanghai), as tables."""
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.leads.domain import importing, rules

CST = timezone(timedelta(hours=8))
# the deadline's business day is 2026-11-30 (Shanghai)
DEADLINE = datetime(2026, 11, 30, 10, 0, tzinfo=CST)
LATE_DEADLINE = datetime(2026, 11, 30, 23, 30, tzinfo=CST)   # 15:30 UTC on the 30th


def at(day, hour=12, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=CST) if day <= 30 else \
        datetime(2026, 12, day - 30, hour, minute, tzinfo=CST)


@pytest.mark.parametrize("deadline, now, past", [
    (DEADLINE, at(29), False),                    # the day before
    (DEADLINE, at(30, 0, 0), False),              # on the day, first minute
    (DEADLINE, at(30, 10, 1), False),             # on the day, after the deadline's hour
    (DEADLINE, at(30, 23, 59), False),            # on the day, last minute
    (DEADLINE, at(31, 0, 0), True),               # next business day 00:00
    (DEADLINE, at(35), True),
    (LATE_DEADLINE, at(31, 0, 10), True),         # still the 30th in UTC, 1 Dec in Shanghai
    (LATE_DEADLINE, at(30, 23, 59), False),
    (None, at(40), False),
])
def test_deadline_is_past_only_after_its_business_day(deadline, now, past):
    assert rules.is_past(deadline, now.astimezone(UTC)) is past


def test_cutoff_is_local_midnight_in_utc():
    assert rules.return_cutoff(at(30, 15)) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("follow_up, convert, locked, status, now, reason", [
    (DEADLINE, None, False, "following", at(31), "overdue"),
    (DEADLINE, None, False, "following", at(30, 23), None),
    (DEADLINE, None, True, "following", at(31), None),             # locked: never
    (DEADLINE, None, False, "converted", at(31), None),            # closed: never
    (at(40), DEADLINE, False, "following", at(31), "not_converted"),
    (DEADLINE, DEADLINE, False, "following", at(31), "overdue"),   # overdue first
    (at(40), DEADLINE, False, "following", at(30, 23), None),
])
def test_return_reason(follow_up, convert, locked, status, now, reason):
    assert rules.return_reason(follow_up=follow_up, convert=convert, locked=locked,
                               owner_id="rep1", status=status, now=now) == reason


def test_pool_lead_is_never_returned():
    assert rules.return_reason(follow_up=DEADLINE, convert=None, locked=False, owner_id=None,
                               status="new", now=at(40)) is None


@pytest.mark.parametrize("now, warn_days, warned_for, due", [
    (at(27, 23, 59), 2, None, False),     # three days before: not yet
    (at(28, 0, 0), 2, None, True),        # two days before, from 00:00
    (at(29), 2, None, True),
    (at(30, 23, 59), 2, None, True),      # on the day
    (at(31, 0, 0), 2, None, False),       # past: the return job takes it instead
    (at(29), 2, DEADLINE, False),         # already warned for this deadline
    (at(29), 2, DEADLINE - timedelta(days=3), True),   # a moved deadline warns again
    (at(30), 0, None, False),             # 0: no warning
    (at(28, 23, 59), 1, None, False),     # 1: from the day before the deadline's day
    (at(29, 0, 0), 1, None, True),
])
def test_warning_window(now, warn_days, warned_for, due):
    assert rules.warning_due(due=DEADLINE, warned_for=warned_for, warn_days_before=warn_days,
                             locked=False, owner_id="rep1", status="following",
                             now=now) is due


def test_locked_or_closed_leads_are_not_warned():
    for locked, status in ((True, "following"), (False, "converted")):
        assert not rules.warning_due(due=DEADLINE, warned_for=None, warn_days_before=2,
                                     locked=locked, owner_id="rep1", status=status, now=at(29))


EXPO = rules.ReturnCondition(("expo",), no_follow_up_days=3, not_converted_days=10)
POOL = rules.PoolRules(follow_up_days=15, return_conditions=(
    EXPO, rules.ReturnCondition(None, not_converted_days=60)))
CLAIMED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("source, follow_up_days, convert_days", [
    ("expo", 3, 10),          # its own condition
    ("website", 15, 60),      # the catch-all: pool follow-up days + 60 days to convert
])
def test_conditions_per_source(source, follow_up_days, convert_days):
    found = rules.deadlines(source=source, claimed_at=CLAIMED, last_follow_up_at=None,
                            rules=POOL)
    assert found.follow_up == CLAIMED + timedelta(days=follow_up_days)
    assert found.convert == CLAIMED + timedelta(days=convert_days)
    assert found.due == min(found.follow_up, found.convert)


def test_no_conditions_means_follow_up_only():
    found = rules.deadlines(source="ad", claimed_at=CLAIMED, last_follow_up_at=None,
                            rules=rules.PoolRules(follow_up_days=7))
    assert found.convert is None and found.due == CLAIMED + timedelta(days=7)


def test_follow_up_moves_only_the_follow_up_deadline():
    later = CLAIMED + timedelta(days=2)
    found = rules.deadlines(source="expo", claimed_at=CLAIMED, last_follow_up_at=later,
                            rules=POOL)
    assert found.follow_up == later + timedelta(days=3)
    assert found.convert == CLAIMED + timedelta(days=10)


def test_rules_round_trip():
    assert rules.PoolRules.from_dict(POOL.as_dict()) == POOL


@pytest.mark.parametrize("pool, role, user, members, allowed", [
    ("default", "sales", "u1", set(), True),
    ("east", "sales", "u1", {"u1"}, True),
    ("east", "sales", "u2", {"u1"}, False),
    ("east", "manager", "u2", set(), True),
    ("east", "admin", "u2", set(), True),
])
def test_pool_membership(pool, role, user, members, allowed):
    assert rules.may_work_pool(pool=pool, role=role, user_id=user, members=members) is allowed


def test_import_headers_in_chinese_or_english():
    assert importing.map_header(["\ufeff姓名", "公司", "手机", "Email", "来源", "标签", "x"]) == [
        "name", "company", "phone", "email", "source", "tags", None]
    assert importing.missing_columns(importing.map_header(["公司"])) == ["name"]


def test_import_row_fields():
    fields = importing.map_header(["姓名", "来源", "标签", "备注"])
    assert importing.row_to_fields(fields, [" 张伟 ", "展会", "华东，重点;VIP", ""]) == {
        "name": "张伟", "source": "expo", "tags": ["华东", "重点", "VIP"]}
    assert importing.row_to_fields(fields, ["李娜", "", "", ""])["source"] == "import"
    assert importing.row_to_fields(fields, ["李娜", "地推", "", ""])["source"] == "地推"


def test_a_late_recorded_follow_up_counts_from_when_it_happened():
    earlier = CLAIMED - timedelta(days=1)
    found = rules.deadlines(source="ad", claimed_at=CLAIMED, last_follow_up_at=earlier,
                            rules=rules.PoolRules(follow_up_days=7))
    assert found.follow_up == earlier + timedelta(days=7)
