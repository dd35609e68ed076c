"""Analytics' pure rules: envelopes, periods, stage order, conversion rates, summaries."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.analytics.domain import envelope, period
from services.analytics.domain.funnel import StageInfo, order_stages, overall, rate, stage_steps
from services.analytics.domain.summary import summarize

SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- envelope ----------------------------------------------------------------------------------

def test_parse_envelope_and_extracted_fields():
    event = envelope.parse({
        "id": "e1", "type": "opportunity.won", "version": 1,
        "occurred_at": "2026-03-01T10:00:00+08:00", "source": "sales", "actor_id": "u1",
        "correlation_id": "c1",
        "data": {"opportunity_id": "o1", "owner_id": "u2", "team_id": "t1",
                 "amount": "12800.5"}})
    assert event.occurred_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert (event.owner_id, event.team_id, event.subject_id) == ("u2", "t1", "o1")
    assert event.amount == Decimal("12800.50")


@pytest.mark.parametrize("body", [
    None, [], {"type": "x"},
    {"id": "e", "type": "t", "source": "s", "occurred_at": "2026-03-01T10:00:00"},  # no offset
    {"id": "e", "type": "t", "source": "s", "occurred_at": "yesterday"},
    {"id": "e", "type": "t", "source": "s", "occurred_at": "2026-03-01T10:00:00Z", "data": [1]},
])
def test_malformed_envelopes_are_refused(body):
    with pytest.raises(envelope.MalformedEvent):
        envelope.parse(body)


@pytest.mark.parametrize("raw,expected", [
    ("12800.00", Decimal("12800.00")), ("1,280.5", Decimal("1280.50")), (100, Decimal("100.00")),
    (0.1, Decimal("0.10")), (None, None), ("", None), ("-5", Decimal("-5.00")),
])
def test_amounts(raw, expected):
    assert envelope.parse_amount(raw) == expected


@pytest.mark.parametrize("raw", ["not-a-number", "NaN", "Infinity", "12,80.0.0"])
def test_bad_amounts_raise(raw):
    with pytest.raises(envelope.MalformedEvent):
        envelope.parse_amount(raw)


def test_cents_round_trip():
    assert envelope.to_cents(Decimal("12800.55")) == 1280055
    assert envelope.from_cents(1280055) == "12800.55"
    assert envelope.from_cents(-5) == "-0.05"
    assert envelope.to_cents(None) == 0


def test_last_writer_wins_by_time_then_id():
    t = at("2026-03-01T10:00:00+08:00")
    assert envelope.newer(t, "b", None, None)
    assert envelope.newer(t + timedelta(seconds=1), "a", t, "z")
    assert not envelope.newer(t - timedelta(seconds=1), "z", t, "a")
    assert envelope.newer(t, "b", t, "a") and not envelope.newer(t, "a", t, "b")


# -- period ------------------------------------------------------------------------------------

def test_whole_days_have_no_edges():
    p = period.split(at("2026-03-01T00:00:00+08:00"), at("2026-03-08T00:00:00+08:00"), SH)
    assert (p.months, p.days, p.edges) == ((), ((date(2026, 3, 1), date(2026, 3, 7)),), ())


def test_partial_days_become_edges():
    start, end = at("2026-03-01T10:00:00+08:00"), at("2026-03-03T15:00:00+08:00")
    p = period.split(start, end, SH)
    assert p.months == () and p.days == ((date(2026, 3, 2), date(2026, 3, 2)),)
    assert p.edges == ((start, at("2026-03-02T00:00:00+08:00")),
                       (at("2026-03-03T00:00:00+08:00"), end))


def test_whole_months_then_days_then_edges():
    start, end = at("2026-01-20T10:00:00+08:00"), at("2026-05-03T15:00:00+08:00")
    p = period.split(start, end, SH)
    assert p.months == ((date(2026, 2, 1), date(2026, 4, 1)),)
    assert p.days == ((date(2026, 1, 21), date(2026, 1, 31)), (date(2026, 5, 1), date(2026, 5, 2)))
    assert p.edges == ((start, at("2026-01-21T00:00:00+08:00")),
                       (at("2026-05-03T00:00:00+08:00"), end))


@pytest.mark.parametrize("start,end,months,days", [
    ("2026-03-01T00:00:00+08:00", "2026-04-01T00:00:00+08:00",
     ((date(2026, 3, 1), date(2026, 3, 1)),), ()),
    ("2026-03-05T00:00:00+08:00", "2026-04-01T00:00:00+08:00",
     (), ((date(2026, 3, 5), date(2026, 3, 31)),)),
    ("2026-02-01T00:00:00+08:00", "2026-02-28T00:00:00+08:00",
     (), ((date(2026, 2, 1), date(2026, 2, 27)),)),
    ("2025-12-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00",
     ((date(2025, 12, 1), date(2025, 12, 1)),), ()),
])
def test_month_boundaries(start, end, months, days):
    p = period.split(at(start), at(end), SH)
    assert (p.months, p.days, p.edges) == (months, days, ())


@pytest.mark.parametrize("start,end", [
    ("2026-03-01T10:00:00+08:00", "2026-03-01T12:00:00+08:00"),   # inside one day
    ("2026-03-01T10:00:00+08:00", "2026-03-02T09:00:00+08:00"),   # across one midnight
    ("2026-03-01T10:00:00+08:00", "2026-03-02T00:00:00+08:00"),   # to the next midnight
])
def test_no_whole_day_is_one_edge(start, end):
    p = period.split(at(start), at(end), SH)
    assert (p.months, p.days, p.edges) == ((), (), ((at(start), at(end)),))


def test_open_ended_and_empty_periods():
    p = period.split(None, at("2026-03-03T15:00:00+08:00"), SH)
    assert p.months == ((None, date(2026, 2, 1)),)
    assert p.days == ((date(2026, 3, 1), date(2026, 3, 2)),)
    assert p.edges == ((at("2026-03-03T00:00:00+08:00"), at("2026-03-03T15:00:00+08:00")),)
    p = period.split(at("2026-03-10T00:00:00+08:00"), None, SH)
    assert p.months == ((date(2026, 4, 1), None),) and p.edges == ()
    assert p.days == ((date(2026, 3, 10), date(2026, 3, 31)),)
    assert period.split(None, None, SH) == period.Period(None, None, months=((None, None),))
    t = at("2026-03-01T00:00:00+08:00")
    empty = period.split(t, t, SH)
    assert empty.empty and (empty.months, empty.days, empty.edges) == ((), (), ())


def test_business_day_is_not_the_utc_day():
    # 2026-03-01 16:00 UTC is already midnight of 2 March in Shanghai
    p = period.split(at("2026-03-01T16:00:00+00:00"), None, SH)
    assert p.days == ((date(2026, 3, 2), date(2026, 3, 31)),) and p.edges == ()


# -- funnel ------------------------------------------------------------------------------------

DEFAULT = [StageInfo("初步接洽", 0, 10, "open", True), StageInfo("需求确认", 1, 30, "open", True),
           StageInfo("方案报价", 2, 50, "open", True), StageInfo("谈判审核", 3, 70, "open", True),
           StageInfo("赢单", 4, 100, "won", True), StageInfo("输单", 5, 0, "lost", True)]


def test_declared_order_without_the_lost_stage():
    assert order_stages(list(reversed(DEFAULT))) == ["初步接洽", "需求确认", "方案报价",
                                                     "谈判审核", "赢单"]


def test_discovered_stages_order_by_probability_then_first_seen():
    seen = [StageInfo("需求确认", 0, 30), StageInfo("赢单", 1, 100, "won"),
            StageInfo("初步接洽", 2, 10), StageInfo("输单", 3, 0, "lost"),
            StageInfo("复核", 4, None), StageInfo("谈判", 5, 30)]
    assert order_stages(seen) == ["初步接洽", "需求确认", "谈判", "赢单", "复核"]


def test_declared_first_then_undeclared_by_probability():
    stages = DEFAULT[:2] + [StageInfo("老阶段", 9, 20)]
    assert order_stages(stages) == ["初步接洽", "需求确认", "老阶段"]


def test_rates():
    assert rate(2, 3) == "0.6667" and rate(0, 3) == "0.0000" and rate(3, 3) == "1.0000"
    assert rate(1, 0) is None and rate(None, 5) is None


def test_stage_steps_conversion_and_amounts():
    steps = stage_steps(["a", "b", "c"], {"a": (4, 100050), "b": (2, 30000), "x": (1, 100)},
                        lost={"lost"})
    assert steps == [
        {"stage": "a", "count": 4, "amount": "1000.50", "conversion_rate": None},
        {"stage": "b", "count": 2, "amount": "300.00", "conversion_rate": "0.5000"},
        {"stage": "c", "count": 0, "amount": "0.00", "conversion_rate": "0.0000"},
        {"stage": "x", "count": 1, "amount": "1.00", "conversion_rate": None},
    ]


def test_overall_conversion():
    assert overall(10, 4, 2, 1) == {
        "leads": 10, "customers": 4, "opportunities": 2, "won": 1,
        "lead_to_customer": "0.4000", "customer_to_opportunity": "0.5000",
        "opportunity_to_won": "0.5000"}
    assert overall(None, 0, 0, 0)["lead_to_customer"] is None


# -- summaries ---------------------------------------------------------------------------------

@pytest.mark.parametrize("event_type,data,expected", [
    ("lead.claimed", {"name": "张伟", "company": "上海星辰科技"},
     "线索「张伟 / 上海星辰科技」被领取"),
    ("lead.created", {"name": "李娜"}, "新增线索「李娜」"),
    ("lead.released", {"lead_id": "L1"}, "线索「L1」被退回公海"),
    ("customer.created", {"name": "杭州云帆"}, "新增客户「杭州云帆」"),
    ("opportunity.created", {"name": "ERP 升级", "amount": "12800.00"},
     "新建商机「ERP 升级」，金额 ¥12,800.00"),
    ("opportunity.stage_changed", {"name": "ERP", "from_stage": "初步接洽", "to_stage": "需求确认"},
     "商机「ERP」从「初步接洽」推进到「需求确认」"),
    ("opportunity.won", {"name": "ERP", "amount": "bad"}, "商机「ERP」赢单，金额 bad"),
    ("opportunity.lost", {"name": "ERP", "lost_reason": "预算不足"},
     "商机「ERP」输单（原因：预算不足）"),
    ("ticket.created", {"number": "T-0001", "title": "无法登录"}, "新工单 #T-0001「无法登录」"),
    ("invoice.issued", {}, "业务事件 invoice.issued"),
    ("contract.signed", {"number": "HT-1", "total": "100"}, "合同 HT-1 已签订，金额 ¥100.00"),
    ("lead.converted", None, "线索「?」已转化为客户"),
])
def test_summaries(event_type, data, expected):
    assert summarize(event_type, data) == expected
