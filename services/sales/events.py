"""Events the sales service emits (exchange ``sales.events``; catalogue: docs/events.md)."""
from __future__ import annotations

from crmkit.models import money
from crmkit.timeutil import iso

PIPELINE_CREATED = "pipeline.created"
OPPORTUNITY_CREATED = "opportunity.created"
OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed"
OPPORTUNITY_WON = "opportunity.won"
OPPORTUNITY_LOST = "opportunity.lost"

# consumed: none yet


def pipeline_created(pipeline, stages) -> dict:
    return {
        "pipeline_id": pipeline.id, "name": pipeline.name, "is_default": pipeline.is_default,
        "stages": [{"name": s.name, "probability": s.probability, "kind": s.kind,
                    "position": s.position} for s in stages],
    }


def opportunity_summary(opp) -> dict:
    """The fields every opportunity event carries (analytics builds its funnel from them)."""
    return {
        "opportunity_id": opp.id, "customer_id": opp.customer_id, "owner_id": opp.owner_id,
        "team_id": opp.team_id, "pipeline_id": opp.pipeline_id, "name": opp.name,
        "amount": money(opp.amount), "currency": opp.currency, "stage": opp.stage,
        "probability": opp.probability, "status": opp.status,
        "expected_close_date": opp.expected_close_date.isoformat()
        if opp.expected_close_date else None,
        "lost_reason": opp.lost_reason, "closed_at": iso(opp.closed_at),
        "created_at": iso(opp.created_at),
    }


def stage_changed(opp, change) -> dict:
    return {
        **opportunity_summary(opp), "from_stage": change.from_stage, "to_stage": change.to_stage,
        "from_probability": change.from_probability, "to_probability": change.to_probability,
        "changed_at": iso(opp.updated_at),
    }
