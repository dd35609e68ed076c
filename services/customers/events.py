"""Events the customers service emits and consumes (catalogue: docs/events.md)."""
from __future__ import annotations

# emitted on exchange "customers.events"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_STATUS_CHANGED = "customer.status_changed"
CUSTOMER_LEVEL_CHANGED = "customer.level_changed"
CUSTOMER_CREDIT_LIMIT_CHANGED = "customer.credit_limit_changed"
CONTACT_ADDED = "customer.contact_added"
PRIMARY_CONTACT_CHANGED = "customer.primary_contact_changed"
CUSTOMER_FOLLOWED_UP = "customer.followed_up"
PLAN_CREATED = "follow_up_plan.created"
PLAN_DONE = "follow_up_plan.done"
PLAN_CANCELLED = "follow_up_plan.cancelled"
PLAN_DUE = "follow_up_plan.due"
CUSTOMER_CLAIMED = "customer.claimed"
CUSTOMER_RELEASED = "customer.released"
CUSTOMER_LOCKED = "customer.locked"
CUSTOMER_UNLOCKED = "customer.unlocked"
CUSTOMER_RETURNED = "customer.returned_to_pool"
POOL_RULES_CHANGED = "customer_pool.rules_changed"
CUSTOMER_MERGED = "customer.merged"
SEGMENT_CREATED = "segment.created"      # data {segment_id, name, owner_id, team_id, shared,
SEGMENT_UPDATED = "segment.updated"      #       filters} (+ description; + changes on updated)
SEGMENT_DELETED = "segment.deleted"

# consumed
LEAD_CONVERTED = ("leads", "lead.converted")
CONTRACT_SIGNED = ("sales", "contract.signed")
CHURN_RISK = ("analytics", "customer.churn_risk")
VALUE_CHANGED = ("analytics", "customer.value_changed")   # tier, RFM, churn flag (segments)


def customer_summary(c) -> dict:
    return {"customer_id": c.id, "lead_id": c.lead_id, "owner_id": c.owner_id,
            "team_id": c.team_id, "name": c.name, "level": c.level, "status": c.status}
