"""Events the analytics service consumes and emits (catalogue: docs/events.md).

It emits one: ``customer.churn_risk`` (exchange ``analytics.events``).

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

# leads: data {campaign_id, name, channel, budget (decimal string), starts_on, ends_on,
# owner_id} (+ changes on updated): the campaigns (市场活动) leads carry (campaign ROI)
CAMPAIGN_CREATED = "campaign.created"
CAMPAIGN_UPDATED = "campaign.updated"
CAMPAIGN_EVENTS = (CAMPAIGN_CREATED, CAMPAIGN_UPDATED)

# customers: data {customer_id, lead_id, owner_id, team_id, name, level, status}
CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_EVENTS = (CUSTOMER_CREATED, CUSTOMER_UPDATED)
# customers: the same summary, on a change of owner (pool claims, releases, returns), level,
# status or contacts: the customer record follows them (who may read its profile and
# insights, whom a churn risk names) but they are not counted
CUSTOMER_STATE_EVENTS = ("customer.claimed", "customer.released", "customer.returned_to_pool",
                         "customer.status_changed", "customer.level_changed",
                         "customer.locked", "customer.unlocked", "customer.contact_added",
                         "customer.primary_contact_changed")

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

TICKET_RESOLVED = "ticket.resolved"
TICKET_CLOSED = "ticket.closed"
TICKET_SLA_BREACHED = "ticket.sla_breached"
# customers: data {customer_id, owner_id, team_id, ..., follow_up_id, kind, happened_at}
CUSTOMER_FOLLOWED_UP = "customer.followed_up"
# customers: data {survivor_id, merged_id, owner_id, ...}: the merged customer's value,
# products, tickets and opportunities move to the survivor
CUSTOMER_MERGED = "customer.merged"
# sales: contract_summary {contract_id, number, customer_id, owner_id, team_id, status,
# total, currency} (+ signed_at, lines [{product_id, sku, name, quantity, amount}] on signed)
CONTRACT_SIGNED = "contract.signed"
CONTRACT_CANCELLED = "contract.cancelled"
# sales: instalment_summary {instalment_id, contract_id, customer_id, owner_id, team_id,
# due_date, amount, paid_amount, outstanding, status} (+ payment_id, amount, paid_at on paid)
RECEIVABLE_OVERDUE = "receivable.overdue"
PAYMENT_RECEIVED = "payment.received"
# service_desk: return_summary {return_id, customer_id, owner_id, team_id, total_value,...}
RETURN_REQUESTED = "return.requested"
RETURN_REFUNDED = "return.refunded"  # + refund_amount
# service_desk: work_order_summary {work_order_id, customer_id, owner_id, team_id, ...}
WORK_ORDER_COMPLETED = "work_order.completed"  # + workload_hours

TICKET_EVENTS = ("ticket.created", "ticket.assigned", "ticket.commented", "ticket.started",
                 "ticket.waiting", "ticket.resumed", TICKET_RESOLVED, TICKET_CLOSED,
                 "ticket.reopened", "ticket.rated")

# The money field each counted type carries (what its rollup ``amount_cents`` sums).
AMOUNT_FIELD = {
    **{t: "amount" for t in OPPORTUNITY_EVENTS},
    CONTRACT_SIGNED: "total",
    PAYMENT_RECEIVED: "amount",
    RECEIVABLE_OVERDUE: "outstanding",
    RETURN_REFUNDED: "refund_amount",
}

# Types counted per business day, owner and team: the rollup behind the funnel's overall
# conversion, the briefing, the rankings and the series. Other types are only logged.
COUNTED = (*LEAD_EVENTS, *CUSTOMER_EVENTS, *OPPORTUNITY_EVENTS, TICKET_CREATED,
           TICKET_RESOLVED, CUSTOMER_FOLLOWED_UP, CONTRACT_SIGNED, PAYMENT_RECEIVED,
           RECEIVABLE_OVERDUE, RETURN_REFUNDED)

# -- emitted (exchange ``analytics.events``) ---------------------------------------------------
# data {customer_id, owner_id, team_id, name, reason ("purchase_overdue" | "open_complaint"),
# last_contract_at, mean_interval_days, silence_days, open_complaints, flagged_at}
CUSTOMER_CHURN_RISK = "customer.churn_risk"
