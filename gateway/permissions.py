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
    "lead_pools.read": frozenset({"admin", "manager"}),
    "lead_pools.manage": frozenset({"admin"}),                    # set rules, preview
    "customers.read": ALL,
    "customers.write": frozenset({"admin", "manager", "sales"}),
    "pipelines.read": frozenset({"admin", "manager", "sales", "finance"}),
    "pipelines.manage": frozenset({"admin", "manager", "sales"}),  # users define their own
    "opportunities.read": frozenset({"admin", "manager", "sales", "finance"}),
    "opportunities.write": frozenset({"admin", "manager", "sales"}),
    "tickets.read": frozenset({"admin", "manager", "sales", "service"}),
    "tickets.write": frozenset({"admin", "manager", "sales", "service"}),
    "analytics.read": ALL,
    "owners.assign_others": frozenset({"admin", "manager"}),      # owner_id other than me
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def permissions_of(role: str) -> list[str]:
    return sorted(name for name, roles in PERMISSIONS.items() if role in roles)
