"""The caller of an RPC, as the gateway resolved it (see docs/rpc.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from nameko.extensions import DependencyProvider

from crmkit.errors import Forbidden

ROLES = ("admin", "manager", "sales", "service", "finance")


@dataclass(frozen=True)
class Principal:
    user_id: str | None
    username: str = ""
    role: str = "system"
    team_id: str | None = None
    data_scope: str = "all"
    visible_user_ids: frozenset[str] | None = field(default=None)

    @classmethod
    def system(cls) -> Principal:
        return cls(user_id=None, username="system", role="system")

    @classmethod
    def from_json(cls, raw: str | dict | None) -> Principal:
        if not raw:
            return cls.system()
        data = json.loads(raw) if isinstance(raw, str) else raw
        visible = data.get("visible_user_ids")
        return cls(
            user_id=data.get("user_id"),
            username=data.get("username", ""),
            role=data.get("role", "sales"),
            team_id=data.get("team_id"),
            data_scope=data.get("data_scope", "own"),
            visible_user_ids=None if visible is None else frozenset(visible),
        )

    def to_json(self) -> str:
        return json.dumps({
            "user_id": self.user_id, "username": self.username, "role": self.role,
            "team_id": self.team_id, "data_scope": self.data_scope,
            "visible_user_ids": None if self.visible_user_ids is None
            else sorted(self.visible_user_ids),
        })

    @property
    def sees_all(self) -> bool:
        return self.visible_user_ids is None

    def can_see_owner(self, owner_id: str | None) -> bool:
        return self.sees_all or (owner_id is not None and owner_id in self.visible_user_ids)

    def require_role(self, *roles: str) -> None:
        if self.role not in roles and self.role != "system":
            raise Forbidden("forbidden", f"role {self.role!r} may not do this",
                            {"allowed_roles": list(roles)})


class CurrentPrincipal(DependencyProvider):
    """Injects the worker's Principal, read from the ``nameko.principal`` header."""

    def get_dependency(self, worker_ctx):
        return Principal.from_json(worker_ctx.context_data.get("principal"))
