"""Scope grants (查看权限), API keys and the audit log."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from gateway.schemas.common import (
    ID_EXAMPLE,
    DataScope,
    InputModel,
    PublicModel,
    Role,
    UtcTime,
)


class GrantAccess(StrEnum):
    read = "read"      # see the records, change none
    write = "write"    # see and change them like one's own scope


class GrantCreate(InputModel):
    grantee_id: str = Field(description="the user who gains the scope", max_length=64)
    target_user_id: str | None = Field(None, max_length=64,
                                       description="whose records (one of target_*)")
    target_team_id: str | None = Field(None, max_length=64,
                                       description="or the records of a team's members")
    include_subteams: bool = Field(False, description="with target_team_id: also sub-teams")
    access: GrantAccess = GrantAccess.read
    expires_at: dt.datetime | None = Field(None, description="ISO 8601 with an offset; "
                                                             "omitted = until revoked")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"grantee_id": ID_EXAMPLE, "target_team_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d00",
         "include_subteams": True, "access": "read", "expires_at": "2026-12-31T23:59:59+08:00"}
    ]})

    @model_validator(mode="after")
    def _one_target(self) -> GrantCreate:
        if (self.target_user_id is None) == (self.target_team_id is None):
            raise ValueError("give exactly one of target_user_id and target_team_id")
        if self.include_subteams and self.target_team_id is None:
            raise ValueError("include_subteams needs target_team_id")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a UTC offset")
        return self


class GrantPublic(PublicModel):
    id: str
    grantee_id: str
    target_user_id: str | None = None
    target_team_id: str | None = None
    include_subteams: bool
    access: str
    expires_at: UtcTime | None = None
    created_by: str
    created_at: UtcTime
    expired: bool = False


class ServiceAccount(InputModel):
    """A new user for the integration: no password login, a role and a data scope."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[\w.@+-]+$",
                          examples=["erp-sync"])
    display_name: str | None = Field(None, min_length=1, max_length=100)
    role: Role
    team_id: str | None = None
    data_scope: DataScope | None = None


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, examples=["ERP 同步"])
    user_id: str | None = Field(None, max_length=64,
                                description="an existing (service-account) user the key acts "
                                            "as; or give service_account")
    service_account: ServiceAccount | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "ERP 同步", "service_account": {"username": "erp-sync", "role": "finance",
                                                 "data_scope": "all"}}]})

    @model_validator(mode="after")
    def _one_owner(self) -> ApiKeyCreate:
        if (self.user_id is None) == (self.service_account is None):
            raise ValueError("give exactly one of user_id and service_account")
        return self


class ApiKeyPublic(PublicModel):
    id: str
    name: str
    user_id: str
    prefix: str = Field(description="the visible part of the key: crm_<prefix>_…")
    created_by: str
    created_at: UtcTime
    last_used_at: UtcTime | None = None
    revoked_at: UtcTime | None = None

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(description="the whole key; shown only in this answer",
                        examples=["crm_a1b2c3d4e5f6_Qm9vLWJhci1iYXotcXV4LWZvby1iYXItYmF6LXF1eA"])


class AuditEntryPublic(PublicModel):
    id: str
    at: UtcTime
    action: str
    actor_id: str | None = None
    actor_name: str | None = None
    target: str | None = None
    ip: str | None = None
    request_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="ignore", from_attributes=True)
