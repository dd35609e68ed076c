"""Use cases of campaigns (市场活动): create, list, get, change, and finding the campaign a
lead names.

A campaign is a channel (展会, 网络广告, 微信, 邮件, 电话营销, 转介绍), a budget and a period
of whole days; leads carry the id of the campaign they came from. Managers and admins run
campaigns; every role that works leads reads them (to pick one for a lead). Each change is
announced on ``leads.events`` (``campaign.created`` / ``campaign.updated``) with the whole
campaign, so analytics can compute cost per lead and ROI without asking us.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crmkit import timeutil
from crmkit.errors import Conflict, NotFound, ValidationFailed
from crmkit.models import money
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.uow import UnitOfWork
from crmkit.validation import choice, page_limit, parse
from services.leads import events
from services.leads.models import Campaign
from services.leads.schemas import CHANNELS, CampaignCreate, CampaignUpdate, check_period

RUNNERS = ("admin", "manager")                       # create and change campaigns
READERS = ("admin", "manager", "sales", "service")   # read them (whoever creates leads)


def dump_campaign(c: Campaign) -> dict:
    return {"id": c.id, "name": c.name, "channel": c.channel, "budget": money(c.budget),
            "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(),
            "owner_id": c.owner_id, "created_by": c.created_by,
            "created_at": timeutil.iso(c.created_at), "updated_at": timeutil.iso(c.updated_at)}


def _name_taken(session, name: str, other_than: str | None = None) -> Campaign | None:
    query = sa.select(Campaign).where(Campaign.name == name)
    if other_than is not None:
        query = query.where(Campaign.id != other_than)
    return session.execute(query.limit(1)).scalar_one_or_none()


def _name_conflict(existing_id: str | None, name: str) -> Conflict:
    return Conflict("campaign_name_taken", f"a campaign named {name!r} exists",
                    {"existing_id": existing_id, "name": name})


def _flush_unique(uow: UnitOfWork, name: str) -> None:
    """Flush; of two concurrent writes of one name the store's unique constraint refuses the
    second (409 like the check before it; the unit of work rolls back)."""
    try:
        uow.session.flush()
    except IntegrityError:
        raise _name_conflict(None, name) from None


def create_campaign(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role(*RUNNERS)
    spec = parse(CampaignCreate, data)
    session = uow.session
    taken = _name_taken(session, spec.name)
    if taken is not None:
        raise _name_conflict(taken.id, spec.name)
    now = timeutil.now()
    campaign = Campaign(name=spec.name, channel=spec.channel, budget=spec.budget,
                        starts_on=spec.starts_on, ends_on=spec.ends_on,
                        owner_id=spec.owner_id or principal.user_id,
                        created_by=principal.user_id, created_at=now, updated_at=now)
    session.add(campaign)
    _flush_unique(uow, spec.name)
    uow.emit(events.CAMPAIGN_CREATED, events.campaign_summary(campaign))
    return dump_campaign(campaign)


def _load(session, campaign_id: str, *, lock: bool = False) -> Campaign:
    query = sa.select(Campaign).where(Campaign.id == str(campaign_id))
    if lock:
        query = query.with_for_update()
    campaign = session.execute(query).scalar_one_or_none()
    if campaign is None:
        raise NotFound("campaign_not_found", "campaign not found",
                       {"campaign_id": campaign_id})
    return campaign


def get_campaign(uow: UnitOfWork, principal: Principal, campaign_id: str) -> dict:
    principal.require_role(*READERS)
    return dump_campaign(_load(uow.session, campaign_id))


def _day(value, field: str) -> date:
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("validation_error", f"{field} must be a date (YYYY-MM-DD)",
                               [{"field": field, "message": "not a date"}]) from None


def list_campaigns(uow: UnitOfWork, principal: Principal, channel: str | None = None,
                   active_on=None, owner_id: str | None = None, q: str | None = None,
                   cursor=None, limit=None) -> dict:
    """Newest first; ``active_on``: campaigns whose period contains that day."""
    principal.require_role(*READERS)
    query = sa.select(Campaign)
    if channel:
        query = query.where(Campaign.channel == choice(channel, CHANNELS, "channel"))
    if active_on not in (None, ""):
        day = _day(active_on, "active_on")
        query = query.where(Campaign.starts_on <= day, Campaign.ends_on >= day)
    if owner_id:
        query = query.where(Campaign.owner_id == str(owner_id))
    if q and str(q).strip():
        escaped = str(q).strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Campaign.name.ilike(f"%{escaped}%", escape="\\"))
    return paginate(uow.session, query, Campaign.id, cursor, page_limit(limit),
                    dump_campaign)


def update_campaign(uow: UnitOfWork, principal: Principal, campaign_id: str,
                    data: dict) -> dict:
    """Change name, budget, period or owner; the period is checked as a whole (the new
    start against the old end and so on). Nothing changed: no event."""
    principal.require_role(*RUNNERS)
    changes = parse(CampaignUpdate, data).model_dump(exclude_unset=True)
    campaign = _load(uow.session, campaign_id, lock=True)
    try:
        check_period(changes.get("starts_on", campaign.starts_on),
                     changes.get("ends_on", campaign.ends_on))
    except ValueError as exc:
        raise ValidationFailed("validation_error", str(exc),
                               [{"field": "ends_on", "message": str(exc)}]) from None
    if "name" in changes and changes["name"] != campaign.name:
        taken = _name_taken(uow.session, changes["name"], other_than=campaign.id)
        if taken is not None:
            raise _name_conflict(taken.id, changes["name"])
    changed = {}
    for key, value in changes.items():
        before = getattr(campaign, key)
        if before != value:
            changed[key] = {"from": _plain(key, before), "to": _plain(key, value)}
            setattr(campaign, key, value)
    if changed:
        campaign.updated_at = timeutil.now()
        _flush_unique(uow, campaign.name)
        uow.emit(events.CAMPAIGN_UPDATED, {**events.campaign_summary(campaign),
                                           "changes": changed})
    return dump_campaign(campaign)


def _plain(key: str, value):
    if value is None:
        return None
    if key == "budget":
        return money(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- the campaign a lead names ---------------------------------------------------------------

def require_campaign(session, campaign_id: str | None) -> str | None:
    """The id of an existing campaign, or 422 ``unknown_campaign`` (leads only point at
    campaigns that exist)."""
    if campaign_id is None:
        return None
    if session.get(Campaign, str(campaign_id)) is None:
        raise ValidationFailed("unknown_campaign", "no campaign with that id",
                               [{"field": "campaign_id", "message": "unknown campaign"}])
    return str(campaign_id)


def resolve_many(session, values: set[str]) -> dict[str, str]:
    """Import: each value (a campaign id, or a campaign's exact name) → its campaign id.
    Values naming no campaign are absent from the answer."""
    values = {v for v in values if v}
    if not values:
        return {}
    found: dict[str, str] = {}
    rows = session.execute(sa.select(Campaign.id, Campaign.name).where(
        sa.or_(Campaign.id.in_(values), Campaign.name.in_(values)))).all()
    for row in rows:   # an id wins over a name that happens to equal another campaign's id
        if row.name in values:
            found.setdefault(row.name, row.id)
    for row in rows:
        if row.id in values:
            found[row.id] = row.id
    return found
