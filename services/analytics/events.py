"""Events the analytics service consumes (catalogue: docs/events.md). It emits none.

Every event of every service arrives on ONE durable queue, ``analytics.events``,
bound to the topic exchanges ``<source>.events`` with ``#``. Only the fields
listed here are relied on; anything else in ``data`` is kept in the log untouched.
"""
from __future__ import annotations

CONSUMER = "analytics"
QUEUE = "analytics.events"
SOURCES = ("leads", "customers", "sales", "service_desk")
BINDINGS = [(source, "#") for source in SOURCES]

# leads: data {lead_id, name, company, source, pool, status, owner_id, follow_up_deadline}
# (+ previous_owner_id on released / assigned)
LEAD_CREATED = "lead.created"
LEAD_CLAIMED = "lead.claimed"
LEAD_RELEASED = "lead.released"
LEAD_ASSIGNED = "lead.assigned"
LEAD_FOLLOWED_UP = "lead.followed_up"
LEAD_CONVERTED = "lead.converted"
LEAD_UPDATED = "lead.updated"
LEAD_EVENTS = (LEAD_CREATED, LEAD_CLAIMED, LEAD_RELEASED, LEAD_ASSIGNED, LEAD_FOLLOWED_UP,
               LEAD_CONVERTED, LEAD_UPDATED)

# customers: data {customer_id, lead_id, owner_id, team_id, name, level, status}
CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_EVENTS = (CUSTOMER_CREATED, CUSTOMER_UPDATED)

# sales: data {opportunity_id, customer_id, owner_id, team_id, pipeline_id, name,
# amount (decimal string), stage, probability, status, expected_close_date}
# (+ from_stage, to_stage on stage_changed; + lost_reason on lost)
OPPORTUNITY_CREATED = "opportunity.created"
OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed"
OPPORTUNITY_WON = "opportunity.won"
OPPORTUNITY_LOST = "opportunity.lost"
OPPORTUNITY_EVENTS = (OPPORTUNITY_CREATED, OPPORTUNITY_STAGE_CHANGED, OPPORTUNITY_WON,
                      OPPORTUNITY_LOST)
# sales: data {pipeline_id, name, stages: [{name, probability, kind}]}
PIPELINE_CREATED = "pipeline.created"

# service_desk: data {ticket_id, number, customer_id, owner_id, assignee_id, title, channel,
# category, priority, status, ...}
TICKET_CREATED = "ticket.created"

# Types counted per business day, owner and team (the rollup behind the funnel's overall
# conversion and, later, briefings and rankings). Other types are only logged.
COUNTED = (*LEAD_EVENTS, *CUSTOMER_EVENTS, *OPPORTUNITY_EVENTS, TICKET_CREATED)
KNOWN = (*COUNTED, PIPELINE_CREATED)
