"""Function-level authorization: which roles may do what (one table, read it top to bottom).

Whose records a user sees is the *data scope* (``gateway.scopes``), enforced by the services
through the principal; this table only says which kinds of action a role may take at all.
A role not listed for a permission gets 403.
"""
from __future__ import annotations

ROLES = ("admin", "manager", "sales", "service", "finance")
ALL = frozenset(ROLES)

PERMISSIONS: dict[str, frozenset[str]] = {
    "users.manage": frozenset({"admin"}),
    "teams.manage": frozenset({"admin"}),
    "leads.read": frozenset({"admin", "manager", "sales"}),
    "leads.write": frozenset({"admin", "manager", "sales"}),
    "leads.claim": frozenset({"admin", "manager", "sales"}),     # claim / release
    "leads.assign": frozenset({"admin", "manager"}),
    "leads.lock": frozenset({"admin", "manager"}),                # lock / unlock
    "leads.import": frozenset({"admin", "manager", "sales"}),
    "leads.export": frozenset({"admin", "manager", "sales"}),
    "lead_pools.read": frozenset({"admin", "manager"}),
    "lead_pools.manage": frozenset({"admin"}),                    # set rules, preview
    "campaigns.read": frozenset({"admin", "manager", "sales", "service"}),  # 市场活动
    "campaigns.write": frozenset({"admin", "manager"}),           # create / change
    "campaigns.report": frozenset({"admin", "manager"}),          # campaign ROI (company-wide)
    "customers.read": ALL,
    "customers.write": frozenset({"admin", "manager", "sales"}),
    "customers.claim": frozenset({"admin", "manager", "sales"}),  # claim/release/lock/unlock
    "customers.manage": frozenset({"admin", "manager"}),        # level, credit limit
    "customer_pool.read": frozenset({"admin", "manager"}),      # rules, preview
    "customer_pool.manage": frozenset({"admin"}),                # set rules
    "segments.read": frozenset({"admin", "manager", "sales"}),   # 客户分群, counts, members
    "segments.write": frozenset({"admin", "manager", "sales"}),  # create / change own
    "segments.export": frozenset({"admin", "manager", "sales"}),
    "calendar.read": frozenset({"admin", "manager", "sales", "service"}),
    "pipelines.read": frozenset({"admin", "manager", "sales", "finance"}),
    "pipelines.manage": frozenset({"admin", "manager", "sales"}),  # users define their own
    "opportunities.read": frozenset({"admin", "manager", "sales", "finance"}),
    "opportunities.write": frozenset({"admin", "manager", "sales"}),
    "products.read": ALL,
    "products.manage": frozenset({"admin", "manager"}),
    "quotes.read": frozenset({"admin", "manager", "sales", "finance"}),
    "quotes.write": frozenset({"admin", "manager", "sales"}),
    "contracts.read": frozenset({"admin", "manager", "sales", "finance"}),
    "contracts.write": frozenset({"admin", "manager", "sales"}),
    "contracts.approve": frozenset({"admin", "manager", "sales", "finance"}),  # current step
    "receivables.read": frozenset({"admin", "manager", "sales", "finance"}),
    "receivables.write": frozenset({"admin", "manager", "sales", "finance"}),
    "payments.write": frozenset({"admin", "finance"}),            # only finance records 回款
    "invoices.read": frozenset({"admin", "manager", "sales", "finance"}),
    "invoices.write": frozenset({"admin", "finance"}),
    "billing.read": frozenset({"admin", "manager", "sales", "finance"}),
    "billing.write": frozenset({"admin", "finance"}),
    "tickets.read": frozenset({"admin", "manager", "sales", "service"}),
    "tickets.write": frozenset({"admin", "manager", "sales", "service"}),
    "tickets.assign": frozenset({"admin", "manager", "service"}),  # assign, start … close
    "sla.manage": frozenset({"admin"}),                           # SLA policies, holidays
    "returns.read": frozenset({"admin", "manager", "sales", "service", "finance"}),
    "returns.write": frozenset({"admin", "manager", "sales", "service"}),
    "returns.process": frozenset({"admin", "manager", "service", "finance"}),  # approve …
    "work_orders.read": frozenset({"admin", "manager", "sales", "service"}),
    "work_orders.write": frozenset({"admin", "manager", "sales", "service"}),
    "analytics.read": ALL,
    "owners.assign_others": frozenset({"admin", "manager"}),      # owner_id other than me
    "grants.manage": frozenset({"admin"}),                        # 查看权限 (scope grants)
    "api_keys.manage": frozenset({"admin"}),
    "webhooks.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def permissions_of(role: str) -> list[str]:
    return sorted(name for name, roles in PERMISSIONS.items() if role in roles)
