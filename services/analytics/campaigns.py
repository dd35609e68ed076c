"""Campaign ROI (市场活动, the promotion P of 7P): per campaign the leads it brought, the
customers they became, those customers' opportunities and won business, against its budget.

Attribution is a join over the current-state projections, made when the report is asked:
``campaign_states`` ← ``lead_states.campaign_id`` ← ``customer_states.lead_id`` →
``opportunity_states.customer_id`` and ``customer_values``. Each projection converges
whatever order its events arrive in (last writer wins, sums), so the join does too: a
``customer.created`` applied before its lead's ``lead.created`` is attributed as soon as the
lead's campaign is known, and a rebuild from the log gives the same answer.

Merged customers: ``customer.merged`` moves the merged customer's value and opportunities to
the survivor (projections.project_merge), so they count for the **survivor's** campaign (the
campaign of the survivor's own lead, or none); the merged customer still counts as a
converted customer of its own lead's campaign — that conversion happened.

Figures (domain/campaigns.py, docs/analytics.md "Campaigns"): company-wide, for managers and
administrators (budgets are company money; a rep's share of a campaign has no budget).
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from crmkit.errors import NotFound, ValidationFailed
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from crmkit.validation import choice
from services.analytics.domain import campaigns as rules
from services.analytics.domain.envelope import to_cents
from services.analytics.domain.funnel import WON
from services.analytics.models import (
    CampaignState,
    CustomerState,
    CustomerValue,
    LeadState,
    OpportunityState,
)

READERS = ("admin", "manager")
CHANNELS = ("expo", "online_ad", "wechat", "email", "telemarketing", "referral")
MAX_CAMPAIGNS = 500   # one report lists at most this many campaigns (newest start first)


def _day(field: str, value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("validation_error", f"{field} must be a date (YYYY-MM-DD)",
                               [{"field": field, "message": "not a date"}]) from None


def _tallies(session, campaign_ids: list[str]) -> dict[str, rules.Tally]:
    """campaign id → what its leads brought (three grouped queries over the projections)."""
    if not campaign_ids:
        return {}
    lead, cust, value, opp = LeadState, CustomerState, CustomerValue, OpportunityState
    mine = lead.campaign_id.in_(campaign_ids)
    found: dict[str, dict] = {c: {} for c in campaign_ids}
    for campaign_id, leads in session.execute(
            sa.select(lead.campaign_id, sa.func.count()).where(mine)
            .group_by(lead.campaign_id)):
        found[campaign_id]["leads"] = leads
    won_customer = sa.case((sa.or_(value.contracts > 0, value.opportunities_won > 0), 1),
                           else_=0)
    for row in session.execute(
            sa.select(lead.campaign_id, sa.func.count(cust.customer_id),
                      sa.func.coalesce(sa.func.sum(won_customer), 0),
                      sa.func.coalesce(sa.func.sum(value.revenue_cents), 0),
                      sa.func.coalesce(sa.func.sum(value.refund_cents), 0))
            .select_from(lead)
            .join(cust, cust.lead_id == lead.lead_id)
            .outerjoin(value, value.customer_id == cust.customer_id)
            .where(mine).group_by(lead.campaign_id)):
        found[row[0]].update(customers=row[1], won_customers=int(row[2]),
                             revenue_cents=int(row[3]), refund_cents=int(row[4]))
    of_customers = (sa.select(lead.campaign_id).select_from(lead)
                    .join(cust, cust.lead_id == lead.lead_id)
                    .join(opp, opp.customer_id == cust.customer_id).where(mine))
    for campaign_id, count in session.execute(
            of_customers.add_columns(sa.func.count(opp.opportunity_id))
            .group_by(lead.campaign_id)):
        found[campaign_id]["opportunities"] = count
    # won amounts summed here in exact Decimal cents (SQLite sums NUMERIC as floats)
    for campaign_id, amount in session.execute(
            of_customers.add_columns(opp.amount).where(opp.status == WON)):
        slot = found[campaign_id]
        slot["won_opportunities"] = slot.get("won_opportunities", 0) + 1
        slot["won_opportunity_cents"] = slot.get("won_opportunity_cents", 0) + to_cents(amount)
    return {c: rules.Tally(**v) for c, v in found.items()}


def _dump(c: CampaignState, tally: rules.Tally) -> dict:
    return {"campaign_id": c.campaign_id, "name": c.name, "channel": c.channel,
            "starts_on": c.starts_on.isoformat() if c.starts_on else None,
            "ends_on": c.ends_on.isoformat() if c.ends_on else None, "owner_id": c.owner_id,
            **rules.figures(to_cents(c.budget), tally)}


def campaign_report(uow: UnitOfWork, principal: Principal, start=None, end=None,
                    channel=None) -> dict:
    """Every campaign whose period overlaps ``[start, end]`` (days, both included; either
    may be omitted) and of ``channel``, with its figures and the total over them."""
    principal.require_role(*READERS)
    first, last = _day("start", start), _day("end", end)
    if first and last and last < first:
        raise ValidationFailed("validation_error", "end is before start",
                               [{"field": "end", "message": "before start"}])
    query = sa.select(CampaignState)
    if channel not in (None, ""):
        query = query.where(CampaignState.channel == choice(channel, CHANNELS, "channel"))
    if first:
        query = query.where(CampaignState.ends_on >= first)
    if last:
        query = query.where(CampaignState.starts_on <= last)
    found = uow.session.execute(query.order_by(CampaignState.starts_on.desc(),
                                               CampaignState.campaign_id.desc())
                                .limit(MAX_CAMPAIGNS)).scalars().all()
    tallies = _tallies(uow.session, [c.campaign_id for c in found])
    total, budget = rules.Tally(), 0
    for c in found:
        total, budget = total + tallies[c.campaign_id], budget + to_cents(c.budget)
    return {"start": first.isoformat() if first else None,
            "end": last.isoformat() if last else None, "channel": channel or None,
            "items": [_dump(c, tallies[c.campaign_id]) for c in found],
            "total": {"campaigns": len(found), **rules.figures(budget, total)}}


def campaign_detail(uow: UnitOfWork, principal: Principal, campaign_id) -> dict:
    principal.require_role(*READERS)
    campaign = uow.session.get(CampaignState, str(campaign_id or ""))
    if campaign is None:
        raise NotFound("campaign_not_found", "campaign not found",
                       {"campaign_id": campaign_id})
    return _dump(campaign, _tallies(uow.session, [campaign.campaign_id])[campaign.campaign_id])
