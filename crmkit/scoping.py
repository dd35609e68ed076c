"""SQL conditions for the caller's data scope (查看权限) and the list scopes pool/mine/all."""
from __future__ import annotations

import sqlalchemy as sa

from crmkit.errors import ValidationFailed
from crmkit.principal import Principal

LIST_SCOPES = ("pool", "mine", "all")


def visible(principal: Principal, *owner_columns, pool: bool = False):
    """Rows whose owner (in any of ``owner_columns``) the caller may see.

    ``pool=True``: rows without an owner (a public pool) are visible to everyone too.
    The caller always sees rows they own, whatever their scope says.
    """
    if principal.sees_all:
        return sa.true()
    users = set(principal.visible_user_ids)
    if principal.user_id:
        users.add(principal.user_id)
    conditions = [column.in_(users) for column in owner_columns]
    if pool:
        conditions.append(owner_columns[0].is_(None))
    return sa.or_(*conditions)


def list_scope(principal: Principal, scope: str | None, owner_column):
    """``pool``: unowned rows; ``mine``: the caller's; ``all``: everything visible."""
    if scope == "pool":
        return owner_column.is_(None)
    if scope == "mine":
        return owner_column == principal.user_id
    if scope in ("all", None, ""):
        return sa.true()
    raise ValidationFailed("validation_error", "scope must be pool, mine or all",
                           [{"field": "scope", "message": "unknown scope"}])
