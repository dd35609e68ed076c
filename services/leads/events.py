"""Events the leads service emits and consumes (catalogue: docs/events.md)."""
from __future__ import annotations

from crmkit.models import money
from crmkit.timeutil import iso

# emitted on exchange "leads.events"
LEAD_CREATED = "lead.created"
LEAD_UPDATED = "lead.updated"
LEAD_CLAIMED = "lead.claimed"
LEAD_RELEASED = "lead.released"
LEAD_ASSIGNED = "lead.assigned"
LEAD_FOLLOWED_UP = "lead.followed_up"
LEAD_CONVERTED = "lead.converted"
LEAD_TRANSFERRED = "lead.transferred"
LEAD_RETURNED = "lead.returned_to_pool"
LEAD_DEADLINE_WARNING = "lead.deadline_warning"
LEAD_LOCKED = "lead.locked"
LEAD_UNLOCKED = "lead.unlocked"
POOL_RULES_CHANGED = "lead_pool.rules_changed"
POOL_CREATED = "lead_pool.created"
POOL_MEMBERS_CHANGED = "lead_pool.members_changed"
CAMPAIGN_CREATED = "campaign.created"
CAMPAIGN_UPDATED = "campaign.updated"

# consumed
CUSTOMER_CREATED = ("customers", "customer.created")


def lead_summary(lead) -> dict:
    """The fields every lead event carries (``lead`` is a row or anything with its fields)."""
    get = lead.get if isinstance(lead, dict) else lambda k: getattr(lead, k)
    return {
        "lead_id": get("id"), "name": get("name"), "company": get("company"),
        "source": get("source"), "pool": get("pool"), "status": get("status"),
        "owner_id": get("owner_id"), "follow_up_deadline": iso(get("follow_up_deadline")),
        "campaign_id": get("campaign_id"), "industry": get("industry"), "region": get("region"),
    }


def lead_converted(lead) -> dict:
    """Everything customers needs to create the customer, without asking us."""
    return {
        **lead_summary(lead), "title": lead.title, "phone": lead.phone, "email": lead.email,
        "region": lead.region, "industry": lead.industry, "tags": list(lead.tags or []),
        "notes": lead.notes,
    }


def campaign_summary(campaign) -> dict:
    """Every campaign event's ``data``: the campaign as it is now (budget a decimal string)."""
    return {
        "campaign_id": campaign.id, "name": campaign.name, "channel": campaign.channel,
        "budget": money(campaign.budget), "starts_on": campaign.starts_on.isoformat(),
        "ends_on": campaign.ends_on.isoformat(), "owner_id": campaign.owner_id,
    }
