"""Events the customers service emits and consumes (catalogue: docs/events.md)."""
from __future__ import annotations

# emitted on exchange "customers.events"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"

# consumed
LEAD_CONVERTED = ("leads", "lead.converted")


def customer_summary(c) -> dict:
    return {"customer_id": c.id, "lead_id": c.lead_id, "owner_id": c.owner_id,
            "team_id": c.team_id, "name": c.name, "level": c.level, "status": c.status}
