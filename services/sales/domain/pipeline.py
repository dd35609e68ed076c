"""Pipelines (自定义流程) and opportunity stages as pure rules.

A pipeline is an ordered list of stages, each with a win probability and a
kind: ``open`` stages are the ones an opportunity works through, exactly one
``won`` stage (100%) and exactly one ``lost`` stage (0%) close it. An
opportunity starts in the first open stage and moves freely between open
stages (forwards or backwards); reaching the won or lost stage closes it for
good, and losing needs a reason.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from crmkit.errors import Conflict, ValidationFailed

KINDS = ("open", "won", "lost")
STATUSES = ("open", "won", "lost")  # an opportunity's status is the kind of its stage
MAX_STAGES = 20
MAX_LOST_REASON = 500


@dataclass(frozen=True)
class Stage:
    name: str
    probability: int
    kind: str = "open"


def name_key(name: str) -> str:
    """What makes two names the same: NFKC-folded, case-folded, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def infer_kind(probability: int, kind: str | None) -> str:
    """A stage given without a kind: 100% is the won stage, 0% the lost one, else open."""
    if kind:
        return kind
    if probability == 100:
        return "won"
    if probability == 0:
        return "lost"
    return "open"


def check_stages(stages: Sequence[Stage]) -> None:
    """Raise ValidationFailed (code ``invalid_pipeline``) naming every problem found."""
    problems: list[dict] = []

    def problem(field: str, message: str) -> None:
        problems.append({"field": field, "message": message})

    if len(stages) > MAX_STAGES:
        problem("stages", f"at most {MAX_STAGES} stages")
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        key = name_key(stage.name)
        if not key:
            problem(f"stages.{i}.name", "a stage needs a name")
        elif key in seen:
            problem(f"stages.{i}.name", f"duplicate stage name {stage.name!r}")
        seen.add(key)
        if not 0 <= stage.probability <= 100:
            problem(f"stages.{i}.probability", "probability must be between 0 and 100")
        if stage.kind not in KINDS:
            problem(f"stages.{i}.kind", "kind must be open, won or lost")
        elif stage.kind == "won" and stage.probability != 100:
            problem(f"stages.{i}.probability", "the won stage has probability 100")
        elif stage.kind == "lost" and stage.probability != 0:
            problem(f"stages.{i}.probability", "the lost stage has probability 0")
    kinds = [stage.kind for stage in stages]
    if kinds.count("open") < 1:
        problem("stages", "a pipeline needs at least one open stage")
    if kinds.count("won") != 1:
        problem("stages", "a pipeline needs exactly one won stage")
    if kinds.count("lost") != 1:
        problem("stages", "a pipeline needs exactly one lost stage")
    if problems:
        raise ValidationFailed("invalid_pipeline", "the pipeline's stages are not valid",
                               problems)


def first_open_stage(stages: Sequence[Stage]) -> Stage:
    """Where a new opportunity starts."""
    for stage in stages:
        if stage.kind == "open":
            return stage
    raise ValueError("pipeline without an open stage")


def find_stage(stages: Sequence[Stage], name: str | None) -> Stage | None:
    key = name_key(name or "")
    if not key:
        return None
    for stage in stages:
        if name_key(stage.name) == key:
            return stage
    return None


@dataclass(frozen=True)
class StageChange:
    from_stage: str
    to_stage: str
    from_probability: int
    to_probability: int
    status: str
    lost_reason: str | None

    @property
    def closes(self) -> bool:
        return self.status != "open"


def plan_stage_change(stages: Sequence[Stage], *, current_stage: str, current_probability: int,
                      status: str, target: str | None,
                      lost_reason: str | None = None) -> StageChange | None:
    """Decide a move of an opportunity to ``target``; ``None`` when it is already there.

    422 ``unknown_stage`` (not a stage of its pipeline), 409 ``opportunity_closed`` (won or
    lost opportunities never move), 422 ``lost_reason_required`` (losing needs a reason).
    """
    stage = find_stage(stages, target)
    if stage is None:
        raise ValidationFailed("unknown_stage", f"{target!r} is not a stage of this pipeline",
                               [{"field": "stage", "message": "unknown stage",
                                 "allowed": [s.name for s in stages]}])
    if status != "open":
        raise Conflict("opportunity_closed", f"a {status} opportunity cannot change stage",
                       {"status": status, "stage": current_stage})
    if stage.name == current_stage:
        return None
    reason = (lost_reason or "").strip() or None
    if stage.kind == "lost":
        if reason is None:
            raise ValidationFailed("lost_reason_required", "a lost opportunity needs a reason",
                                   [{"field": "lost_reason", "message": "required"}])
        if len(reason) > MAX_LOST_REASON:
            raise ValidationFailed("validation_error", "the lost reason is too long",
                                   [{"field": "lost_reason",
                                     "message": f"at most {MAX_LOST_REASON} characters"}])
    return StageChange(from_stage=current_stage, to_stage=stage.name,
                       from_probability=current_probability, to_probability=stage.probability,
                       status=stage.kind, lost_reason=reason if stage.kind == "lost" else None)
