"""Use cases of the sales service: one function per command or query.

Each takes the unit of work and the caller's principal, applies the pure rules
of ``domain/`` and reports what happened as events on the unit of work.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crmkit import timeutil
from crmkit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmkit.models import money
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import visible
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.sales import events
from services.sales.domain import pipeline as rules
from services.sales.models import Opportunity, Pipeline, PipelineStage, StageChange
from services.sales.schemas import OpportunityCreate, PipelineCreate

SELLERS = ("admin", "manager", "sales")


def dump_pipeline(p: Pipeline, stages: list[PipelineStage]) -> dict:
    return {
        "id": p.id, "name": p.name, "is_default": p.is_default,
        "stages": [{"name": s.name, "probability": s.probability, "kind": s.kind,
                    "position": s.position} for s in stages],
        "created_by": p.created_by, "created_at": timeutil.iso(p.created_at),
        "updated_at": timeutil.iso(p.updated_at),
    }


def dump_opportunity(o: Opportunity) -> dict:
    return {
        "id": o.id, "customer_id": o.customer_id, "name": o.name, "amount": money(o.amount),
        "currency": o.currency,
        "expected_close_date": o.expected_close_date.isoformat() if o.expected_close_date
        else None,
        "pipeline_id": o.pipeline_id, "stage": o.stage, "probability": o.probability,
        "status": o.status, "lost_reason": o.lost_reason, "closed_at": timeutil.iso(o.closed_at),
        "owner_id": o.owner_id, "team_id": o.team_id, "created_by": o.created_by,
        "created_at": timeutil.iso(o.created_at), "updated_at": timeutil.iso(o.updated_at),
    }


def dump_stage_change(c: StageChange) -> dict:
    return {
        "id": c.id, "from_stage": c.from_stage, "to_stage": c.to_stage,
        "from_probability": c.from_probability, "to_probability": c.to_probability,
        "changed_at": timeutil.iso(c.changed_at), "actor_id": c.actor_id,
    }


def _stage_rows(session, pipeline_id: str) -> list[PipelineStage]:
    return list(session.execute(sa.select(PipelineStage).where(
        PipelineStage.pipeline_id == pipeline_id).order_by(PipelineStage.position)).scalars())


def _stages(rows: list[PipelineStage]) -> list[rules.Stage]:
    return [rules.Stage(r.name, r.probability, r.kind) for r in rows]


def _visible(principal: Principal):
    """SQL condition: opportunities whose owner the caller may see."""
    return visible(principal, Opportunity.owner_id)


def _load(uow: UnitOfWork, principal: Principal, opportunity_id: str, *,
          lock: bool = False) -> Opportunity:
    query = sa.select(Opportunity).where(Opportunity.id == str(opportunity_id),
                                         _visible(principal))
    if lock:
        query = query.with_for_update()
    opp = uow.session.execute(query).scalar_one_or_none()
    if opp is None:
        raise NotFound("opportunity_not_found", "opportunity not found",
                       {"opportunity_id": opportunity_id})
    return opp


# -- pipelines ---------------------------------------------------------------------------------

def list_pipelines(uow: UnitOfWork, principal: Principal) -> dict:
    session = uow.session
    pipelines = session.execute(sa.select(Pipeline).order_by(
        Pipeline.is_default.desc(), Pipeline.id)).scalars().all()
    by_pipeline: dict[str, list[PipelineStage]] = {p.id: [] for p in pipelines}
    for stage in session.execute(sa.select(PipelineStage).order_by(
            PipelineStage.pipeline_id, PipelineStage.position)).scalars():
        by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
    return {"items": [dump_pipeline(p, by_pipeline[p.id]) for p in pipelines]}


def create_pipeline(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*SELLERS)  # 自定义流程: users and admins define their own
    spec = parse(PipelineCreate, data)
    stages = [rules.Stage(s.name, s.probability, rules.infer_kind(s.probability, s.kind))
              for s in spec.stages]
    rules.check_stages(stages)
    session, key = uow.session, rules.name_key(spec.name)
    existing = session.execute(sa.select(Pipeline.id).where(Pipeline.name_key == key)).first()
    if existing is not None:
        raise Conflict("pipeline_name_taken", "a pipeline with this name exists",
                       {"pipeline_id": existing.id})
    now = timeutil.now()
    pipeline = Pipeline(name=spec.name, name_key=key, is_default=False,
                        created_by=principal.user_id, created_at=now, updated_at=now)
    session.add(pipeline)
    try:
        session.flush()  # a concurrent create of the same name loses here
    except IntegrityError:
        raise Conflict("pipeline_name_taken", "a pipeline with this name exists") from None
    rows = [PipelineStage(pipeline_id=pipeline.id, position=i, name=s.name,
                          probability=s.probability, kind=s.kind)
            for i, s in enumerate(stages)]
    session.add_all(rows)
    session.flush()
    uow.emit(events.PIPELINE_CREATED, events.pipeline_created(pipeline, rows))
    return dump_pipeline(pipeline, rows)


# -- opportunities -----------------------------------------------------------------------------

def _pipeline_for(session, pipeline_id: str | None) -> Pipeline:
    if pipeline_id:
        pipeline = session.get(Pipeline, pipeline_id)
        if pipeline is None:
            raise ValidationFailed("unknown_pipeline", "no such pipeline",
                                   [{"field": "pipeline_id", "message": "unknown pipeline"}])
        return pipeline
    pipeline = session.execute(sa.select(Pipeline).where(Pipeline.is_default.is_(True))
                               ).scalar_one_or_none()
    if pipeline is None:  # the 0002 migration creates it; only a hand-edited store lacks it
        raise Conflict("no_default_pipeline", "no default pipeline is configured")
    return pipeline


def create_opportunity(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*SELLERS)
    if principal.user_id is None:
        raise Forbidden("forbidden", "an opportunity needs a user as its owner")
    spec = parse(OpportunityCreate, data)
    session = uow.session
    pipeline = _pipeline_for(session, spec.pipeline_id)
    start = rules.first_open_stage(_stages(_stage_rows(session, pipeline.id)))
    now = timeutil.now()
    opp = Opportunity(customer_id=spec.customer_id, name=spec.name, amount=spec.amount,
                      currency=spec.currency, expected_close_date=spec.expected_close_date,
                      pipeline_id=pipeline.id, stage=start.name, probability=start.probability,
                      status="open", owner_id=principal.user_id, team_id=principal.team_id,
                      created_by=principal.user_id, created_at=now, updated_at=now)
    session.add(opp)
    session.flush()
    session.add(StageChange(opportunity_id=opp.id, from_stage=None, to_stage=start.name,
                            from_probability=None, to_probability=start.probability,
                            changed_at=now, actor_id=principal.user_id))
    session.flush()
    uow.emit(events.OPPORTUNITY_CREATED, events.opportunity_summary(opp))
    return dump_opportunity(opp)


def list_opportunities(uow: UnitOfWork, principal: Principal, customer_id=None, status=None,
                       cursor=None, limit=None) -> dict:
    query = sa.select(Opportunity).where(_visible(principal))
    if customer_id:
        query = query.where(Opportunity.customer_id == str(customer_id))
    if status:
        if status not in rules.STATUSES:
            raise ValidationFailed("validation_error", "status must be open, won or lost",
                                   [{"field": "status", "message": "unknown status"}])
        query = query.where(Opportunity.status == status)
    return paginate(uow.session, query, Opportunity.id, cursor, page_limit(limit),
                    dump_opportunity)


def get_opportunity(uow: UnitOfWork, principal: Principal, opportunity_id: str) -> dict:
    opp = _load(uow, principal, opportunity_id)
    history = uow.session.execute(sa.select(StageChange).where(
        StageChange.opportunity_id == opp.id).order_by(StageChange.changed_at, StageChange.id)
    ).scalars()
    return {**dump_opportunity(opp), "stage_history": [dump_stage_change(c) for c in history]}


def change_stage(uow: UnitOfWork, principal: Principal, opportunity_id: str, stage: str,
                 lost_reason: str | None = None) -> dict:
    opp = _load(uow, principal, opportunity_id, lock=True)
    if opp.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    session = uow.session
    change = rules.plan_stage_change(
        _stages(_stage_rows(session, opp.pipeline_id)), current_stage=opp.stage,
        current_probability=opp.probability, status=opp.status,
        target=None if stage is None else str(stage),
        lost_reason=None if lost_reason is None else str(lost_reason))
    if change is None:  # already there: nothing changes, nothing is reported
        return get_opportunity(uow, principal, opp.id)
    now = timeutil.now()
    opp.stage, opp.probability, opp.status = change.to_stage, change.to_probability, change.status
    opp.lost_reason = change.lost_reason
    opp.closed_at = now if change.closes else None
    opp.updated_at = now
    session.add(StageChange(opportunity_id=opp.id, from_stage=change.from_stage,
                            to_stage=change.to_stage, from_probability=change.from_probability,
                            to_probability=change.to_probability, changed_at=now,
                            actor_id=principal.user_id))
    session.flush()
    uow.emit(events.OPPORTUNITY_STAGE_CHANGED, events.stage_changed(opp, change))
    if change.status == "won":
        uow.emit(events.OPPORTUNITY_WON, events.opportunity_summary(opp))
    elif change.status == "lost":
        uow.emit(events.OPPORTUNITY_LOST, events.opportunity_summary(opp))
    return get_opportunity(uow, principal, opp.id)
