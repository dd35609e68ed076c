"""Unit tests (no broker, no database) of the sales service's pure rules: pipelines and stages."""
from __future__ import annotations

import pytest

from crmkit.errors import Conflict, ValidationFailed
from services.sales.domain.pipeline import (
    Stage,
    StageChange,
    check_stages,
    find_stage,
    first_open_stage,
    infer_kind,
    name_key,
    plan_stage_change,
)

DEFAULT = [
    Stage("初步接洽", 10), Stage("需求确认", 30), Stage("方案报价", 50), Stage("谈判审核", 70),
    Stage("赢单", 100, "won"), Stage("输单", 0, "lost"),
]
MINIMAL = [Stage("跟进", 40), Stage("成交", 100, "won"), Stage("失败", 0, "lost")]


# -- pipeline validation -----------------------------------------------------------------------

@pytest.mark.parametrize("stages", [DEFAULT, MINIMAL, [
    Stage("线索", 0, "open"), Stage("报价", 100, "open"), Stage("赢", 100, "won"),
    Stage("输", 0, "lost")],
], ids=["default", "minimal", "open stages at 0 and 100"])
def test_valid_pipelines(stages):
    check_stages(stages)


@pytest.mark.parametrize("stages, field, message", [
    ([], "stages", "at least one open stage"),
    ([Stage("成交", 100, "won"), Stage("失败", 0, "lost")], "stages", "at least one open stage"),
    ([Stage("a", 10), Stage("失败", 0, "lost")], "stages", "exactly one won stage"),
    ([Stage("a", 10), Stage("成交", 100, "won")], "stages", "exactly one lost stage"),
    ([Stage("a", 10), Stage("w1", 100, "won"), Stage("w2", 100, "won"), Stage("l", 0, "lost")],
     "stages", "exactly one won stage"),
    ([Stage("a", 10), Stage("w", 100, "won"), Stage("l1", 0, "lost"), Stage("l2", 0, "lost")],
     "stages", "exactly one lost stage"),
    ([Stage("a", 101), *MINIMAL[1:]], "stages.0.probability", "between 0 and 100"),
    ([Stage("a", -1), *MINIMAL[1:]], "stages.0.probability", "between 0 and 100"),
    ([Stage("a", 10), Stage("成交", 90, "won"), Stage("失败", 0, "lost")],
     "stages.1.probability", "won stage has probability 100"),
    ([Stage("a", 10), Stage("成交", 100, "won"), Stage("失败", 5, "lost")],
     "stages.2.probability", "lost stage has probability 0"),
    ([Stage("a", 10, "pending"), *MINIMAL[1:]], "stages.0.kind", "open, won or lost"),
    ([Stage("跟进", 10), Stage("跟进", 20), *MINIMAL[1:]], "stages.1.name", "duplicate"),
    ([Stage("Demo", 10), Stage(" demo ", 20), *MINIMAL[1:]], "stages.1.name", "duplicate"),
    ([Stage("ＡＢ", 10), Stage("ab", 20), *MINIMAL[1:]], "stages.1.name", "duplicate"),
    ([Stage("  ", 10), *MINIMAL[1:]], "stages.0.name", "needs a name"),
    ([Stage(f"s{i}", 10) for i in range(19)] + MINIMAL[1:], "stages", "at most 20"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_pipelines(stages, field, message):
    with pytest.raises(ValidationFailed) as err:
        check_stages(stages)
    assert err.value.code == "invalid_pipeline"
    assert any(p["field"] == field and message in p["message"] for p in err.value.details), \
        err.value.details


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationFailed) as err:
        check_stages([Stage("a", 150), Stage("a", 10)])
    fields = [p["field"] for p in err.value.details]
    assert "stages.0.probability" in fields and "stages.1.name" in fields
    assert len([f for f in fields if f == "stages"]) == 2  # no won, no lost


@pytest.mark.parametrize("probability, kind, expected", [
    (100, None, "won"), (0, None, "lost"), (50, None, "open"), (1, None, "open"),
    (99, None, "open"), (100, "open", "open"), (0, "open", "open"), (70, "won", "won"),
])
def test_infer_kind(probability, kind, expected):
    assert infer_kind(probability, kind) == expected


@pytest.mark.parametrize("a, b, same", [
    ("赢单", "赢单", True), ("Key Account", "key  account", True), (" 报价 ", "报价", True),
    ("ＡＢＣ", "abc", True), ("赢单", "输单", False), ("a b", "ab", False),
])
def test_name_key(a, b, same):
    assert (name_key(a) == name_key(b)) is same


@pytest.mark.parametrize("stages, expected", [
    (DEFAULT, "初步接洽"),
    ([Stage("失败", 0, "lost"), Stage("跟进", 40), Stage("成交", 100, "won")], "跟进"),
])
def test_first_open_stage(stages, expected):
    assert first_open_stage(stages).name == expected


@pytest.mark.parametrize("name, expected", [
    ("方案报价", "方案报价"), (" 方案报价 ", "方案报价"), ("赢单", "赢单"), ("报价", None),
    ("", None), (None, None),
])
def test_find_stage(name, expected):
    found = find_stage(DEFAULT, name)
    assert (found.name if found else None) == expected


# -- stage changes -----------------------------------------------------------------------------

@pytest.mark.parametrize("current, probability, target, reason, expected", [
    ("初步接洽", 10, "需求确认", None, StageChange("初步接洽", "需求确认", 10, 30, "open", None)),
    ("初步接洽", 10, "谈判审核", None, StageChange("初步接洽", "谈判审核", 10, 70, "open", None)),
    ("谈判审核", 70, "需求确认", None, StageChange("谈判审核", "需求确认", 70, 30, "open", None)),
    ("谈判审核", 70, "赢单", None, StageChange("谈判审核", "赢单", 70, 100, "won", None)),
    ("初步接洽", 10, "赢单", "ignored", StageChange("初步接洽", "赢单", 10, 100, "won", None)),
    ("方案报价", 50, "输单", " 预算取消 ",
     StageChange("方案报价", "输单", 50, 0, "lost", "预算取消")),
    ("方案报价", 50, "需求确认", "ignored",
     StageChange("方案报价", "需求确认", 50, 30, "open", None)),
    ("方案报价", 50, "方案报价", None, None),
    ("方案报价", 50, " 方案报价", None, None),
], ids=["forward", "skip ahead", "backwards", "win", "win ignores reason", "lose",
        "open move ignores reason", "same stage", "same stage, spaces"])
def test_allowed_stage_changes(current, probability, target, reason, expected):
    change = plan_stage_change(DEFAULT, current_stage=current, current_probability=probability,
                               status="open", target=target, lost_reason=reason)
    assert change == expected
    if change is not None:
        assert change.closes is (change.status != "open")


@pytest.mark.parametrize("status, target, reason, error, code, field", [
    ("open", "报价", None, ValidationFailed, "unknown_stage", "stage"),
    ("open", "", None, ValidationFailed, "unknown_stage", "stage"),
    ("open", None, None, ValidationFailed, "unknown_stage", "stage"),
    ("won", "报价", None, ValidationFailed, "unknown_stage", "stage"),
    ("open", "输单", None, ValidationFailed, "lost_reason_required", "lost_reason"),
    ("open", "输单", "   ", ValidationFailed, "lost_reason_required", "lost_reason"),
    ("open", "输单", "x" * 501, ValidationFailed, "validation_error", "lost_reason"),
    ("won", "需求确认", None, Conflict, "opportunity_closed", None),
    ("won", "赢单", None, Conflict, "opportunity_closed", None),
    ("lost", "赢单", None, Conflict, "opportunity_closed", None),
    ("lost", "输单", "again", Conflict, "opportunity_closed", None),
], ids=["not in pipeline", "empty", "missing", "unknown before closed", "lost without reason",
        "blank reason", "reason too long", "won can't move", "won can't re-win",
        "lost can't win", "lost can't re-lose"])
def test_refused_stage_changes(status, target, reason, error, code, field):
    current = {"open": "方案报价", "won": "赢单", "lost": "输单"}[status]
    with pytest.raises(error) as err:
        plan_stage_change(DEFAULT, current_stage=current, current_probability=50, status=status,
                          target=target, lost_reason=reason)
    assert err.value.code == code
    if field is not None:
        assert err.value.details[0]["field"] == field
    if code == "unknown_stage":
        assert err.value.details[0]["allowed"] == [s.name for s in DEFAULT]
