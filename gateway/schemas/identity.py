"""Tokens, users and teams."""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas.common import ID_EXAMPLE, DataScope, InputModel, PublicModel, Role, UtcTime

Username = Field(min_length=2, max_length=64, pattern=r"^[\w.@+-]+$", examples=["zhangwei"])
Password = Field(min_length=8, max_length=128, examples=["S3cure-pass"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires", examples=[1800])

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "token_type": "bearer",
         "expires_in": 1800}]})


class UserCreate(InputModel):
    username: str = Username
    password: str = Password
    display_name: str | None = Field(None, min_length=1, max_length=100,
                                     description="defaults to the username")
    role: Role
    team_id: str | None = None
    data_scope: DataScope | None = Field(
        None, description="defaults by role: admin/finance all, manager team_tree, "
                          "sales/service own")
    active: bool = True

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "zhangwei", "password": "S3cure-pass", "display_name": "张伟",
         "role": "sales", "team_id": ID_EXAMPLE}]})


class UserUpdate(InputModel):
    not_nullable: ClassVar[tuple[str, ...]] = (
        "display_name", "role", "data_scope", "active", "password")

    display_name: str | None = Field(None, min_length=1, max_length=100)
    role: Role | None = Field(None, description="changing the role without a data_scope "
                                                "resets the scope to the role's default")
    team_id: str | None = Field(None, description="null removes the user from their team")
    data_scope: DataScope | None = None
    active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=128)

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"display_name": "张伟 (华东)", "team_id": ID_EXAMPLE}, {"active": False}]})


class UserPublic(PublicModel):
    id: str
    username: str
    display_name: str
    role: str
    team_id: str | None = None
    data_scope: str
    active: bool
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": ID_EXAMPLE, "username": "zhangwei", "display_name": "张伟", "role": "sales",
         "team_id": "0190b3c2a1f47c3e9d2b6a8f1e0c4d00", "data_scope": "own", "active": True,
         "created_at": "2025-03-01T08:00:00Z", "updated_at": "2025-03-01T08:00:00Z"}]})


class Me(UserPublic):
    visible_user_ids: list[str] | None = Field(
        description="owners whose records you see; null means everyone")
    permissions: list[str] = Field(examples=[["customers.read", "leads.claim"]])


class TeamCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, examples=["华东销售一部"])
    parent_id: str | None = None
    manager_id: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "华东销售一部", "parent_id": ID_EXAMPLE, "manager_id": None}]})


class TeamUpdate(InputModel):
    not_nullable: ClassVar[tuple[str, ...]] = ("name",)

    name: str | None = Field(None, min_length=1, max_length=100)
    parent_id: str | None = Field(None, description="null makes it a top-level team; "
                                                    "a parent inside its own subtree is a cycle")
    manager_id: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"manager_id": ID_EXAMPLE}]})


class TeamPublic(PublicModel):
    id: str
    name: str
    parent_id: str | None = None
    manager_id: str | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": ID_EXAMPLE, "name": "华东销售一部", "parent_id": None, "manager_id": None,
         "created_at": "2025-03-01T08:00:00Z", "updated_at": "2025-03-01T08:00:00Z"}]})
