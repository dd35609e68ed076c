"""Customer segments (客户分群): saved customer filters with live member counts, a paged member
list and a CSV export, for one-to-one marketing (一对一营销).

Members are evaluated live by the customers service in the reader's data scope: a rep reading
a company-wide shared segment counts, lists and exports only the customers they may see.
A ``team_id`` filter means the customers owned by members of that team and of its sub-teams;
teams belong to the gateway, so the routes resolve the members (``team_members``) and pass
them with each call that evaluates a segment.
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

from fastapi import Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import Field, StrictBool, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmkit.errors import ValidationFailed
from gateway.db import Database
from gateway.deps import CurrentUser, DatabaseDep, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.identity import all_team_nodes
from gateway.models import Team, User
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import (
    ID_EXAMPLE,
    CustomerLevel,
    CustomerStatus,
    InputModel,
    Page,
    PublicModel,
    UtcTime,
)
from gateway.schemas.customers import CustomerPublic
from gateway.scopes import subtree

router = ResourceRouter(prefix=f"{API}/segments", tags=["segments"], responses=ERROR_RESPONSES)
SegmentId = Annotated[str, Path(max_length=64, description="the segment's id")]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]
EXPORT_PAGE = 1000
EXPORT_COLUMNS = (("id", "编号"), ("name", "客户名称"), ("level", "客户级别"),
                  ("status", "客户状态"), ("industry", "行业"), ("region", "地区"),
                  ("phone", "电话"), ("email", "邮箱"), ("tags", "标签"),
                  ("owner_id", "负责人"), ("value_tier", "价值层级"), ("rfm", "RFM"),
                  ("churn_risk", "流失风险"), ("last_contact_at", "最近联系"),
                  ("created_at", "创建时间"))


# -- schemas -------------------------------------------------------------------------------------

class ValueTier(StrEnum):
    platinum = "platinum"
    gold = "gold"
    iron = "iron"
    lead = "lead"
    inactive = "inactive"
    unrated = "unrated"


NO_NUL = r"^[^\x00]*$"     # PostgreSQL text cannot hold NUL: 422, never a 500


def _text(max_length: int, min_length: int = 1):
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length, pattern=NO_NUL)]


Text100 = _text(100)
TagText = _text(30)
UserIdText = _text(64)


class SegmentFilters(InputModel):
    """Every key given must hold (AND); within a list any value matches (OR); an omitted key
    is no condition, an empty list is refused (422), and so is an unknown key or value."""

    level: list[CustomerLevel] | None = Field(None, min_length=1, max_length=4,
                                              description="客户级别 A/B/C/D")
    status: list[CustomerStatus] | None = Field(None, min_length=1, max_length=6)
    industry: list[Text100] | None = Field(None, min_length=1, max_length=50,
                                           description="exact, case-insensitive")
    region: list[Text100] | None = Field(None, min_length=1, max_length=50)
    tags: list[TagText] | None = Field(None, min_length=1, max_length=50,
                                       description="has any of these tags")
    owner_ids: list[UserIdText] | None = Field(None, min_length=1, max_length=200,
                                               description="owned by one of these users")
    team_id: UserIdText | None = Field(None, description="owned by a member of this team or "
                                                         "of one of its sub-teams")
    value_tier: list[ValueTier] | None = Field(
        None, min_length=1, max_length=6,
        description="pyramid tier from analytics (客户金字塔); unrated = not valued yet")
    churn_risk: StrictBool | None = Field(None, description="analytics' churn warning "
                                                            "(流失预警) is on / off")


_FILTERS_EXAMPLE = {"level": ["A", "B"], "region": ["上海", "江苏"], "tags": ["华东"],
                    "value_tier": ["platinum", "gold"], "churn_risk": True}


class SegmentCreate(InputModel):
    name: _text(100) = Field(examples=["华东高价值流失预警客户"])
    description: _text(500, 0) | None = None
    shared: StrictBool = Field(False, description="readable (not changeable) by every user")
    filters: SegmentFilters = Field(default_factory=SegmentFilters,
                                    examples=[_FILTERS_EXAMPLE])


class SegmentUpdate(InputModel):
    """The fields sent change; `filters` replaces the whole filter set."""

    not_nullable: ClassVar[tuple[str, ...]] = ("name", "shared", "filters")

    name: _text(100) | None = None
    description: _text(500, 0) | None = None
    shared: StrictBool | None = None
    filters: SegmentFilters | None = None


class SegmentPreviewRequest(InputModel):
    filters: SegmentFilters = Field(default_factory=SegmentFilters,
                                    examples=[_FILTERS_EXAMPLE])


class SegmentPublic(PublicModel):
    id: str = Field(examples=[ID_EXAMPLE])
    name: str
    description: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    shared: bool = False
    filters: dict[str, Any] = Field(default_factory=dict, examples=[_FILTERS_EXAMPLE])
    member_count: int | None = Field(None, description="live: the members you may see now")
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class Rfm(PublicModel):
    r: int
    f: int
    m: int
    score: str = Field(examples=["545"])


class SegmentMember(CustomerPublic):
    value_tier: str | None = Field(None, description="platinum | gold | iron | lead | "
                                                     "inactive; null = not valued yet")
    rfm: Rfm | None = None
    churn_risk: bool | None = None
    churn_reason: str | None = None


class SegmentPreview(Page[SegmentMember]):
    count: int = Field(description="members you may see")
    filters: dict[str, Any] = Field(default_factory=dict)


# -- what only the gateway knows: users and teams ------------------------------------------------

def _check_people(session: Session, filters: dict) -> None:
    """422 for an owner or team that does not exist."""
    owners = filters.get("owner_ids") or []
    if owners:
        known = set(session.scalars(select(User.id).where(User.id.in_(owners))))
        for i, owner in enumerate(owners):
            if owner not in known:
                raise _invalid_filter(["body", "filters", "owner_ids", i],
                                         f"user {owner!r} does not exist", "unknown_user")
    team_id = filters.get("team_id")
    if team_id is not None and session.get(Team, team_id) is None:
        raise _invalid_filter(["body", "filters", "team_id"],
                                 f"team {team_id!r} does not exist", "unknown_team")


def _invalid_filter(loc: list, msg: str, type_: str) -> ValidationFailed:
    return ValidationFailed("validation_error", msg, [{"loc": loc, "msg": msg, "type": type_}])


def _team_members(session: Session, team_ids: list[str]) -> dict[str, list[str]]:
    """team id → every user of the team and of its sub-teams."""
    teams = all_team_nodes(session)
    out = {}
    for team_id in team_ids:
        ids = subtree([team_id], teams)
        out[team_id] = sorted(session.scalars(select(User.id).where(User.team_id.in_(ids))))
    return out


async def team_members(database: Database, *filter_sets: dict) -> dict[str, list[str]] | None:
    team_ids = sorted({f["team_id"] for f in filter_sets if f and f.get("team_id")})
    if not team_ids:
        return None
    return await run_in_threadpool(database.run, _team_members, team_ids)


async def _with_counts(rpc, database: Database, principal: dict, segments: list[dict]
                       ) -> list[dict]:
    if not segments:
        return segments
    members = await team_members(database, *(s.get("filters") or {} for s in segments))
    counts = (await rpc.call("customers", "count_segments", principal=principal,
                             segment_ids=[s["id"] for s in segments],
                             team_members=members))["counts"]
    return [{**s, "member_count": counts.get(s["id"])} for s in segments]


def _filters(model: SegmentFilters) -> dict:
    return model.model_dump(mode="json", exclude_none=True)


# -- routes --------------------------------------------------------------------------------------

@router.post("", status_code=201, response_model=SegmentPublic, summary="Create a segment",
             responses=CONFLICT_RESPONSE, dependencies=[requires("segments.write")])
async def create_segment(body: SegmentCreate, user: CurrentUser, rpc: Rpc,
                         database: DatabaseDep) -> Any:
    """You own it. Unknown filter keys or values, unknown users or teams: 422 and nothing is
    saved. Another of your segments with the same name: 409 `segment_name_taken`."""
    filters = _filters(body.filters)
    await run_in_threadpool(database.run, _check_people, filters)
    data = {**body.model_dump(mode="json", exclude={"filters"}), "filters": filters}
    segment = await rpc.call("customers", "create_segment", principal=user.principal,
                             data=data)
    return (await _with_counts(rpc, database, user.principal, [segment]))[0]


@router.post("/preview", response_model=SegmentPreview,
             summary="Preview unsaved filters (count + first page)",
             dependencies=[requires("segments.read")])
async def preview_segment(body: SegmentPreviewRequest, user: CurrentUser, rpc: Rpc,
                          database: DatabaseDep, cursor: Cursor = None, limit: Limit = 50
                          ) -> Any:
    """How many customers you may see match, and the first page of them; nothing is saved."""
    filters = _filters(body.filters)
    await run_in_threadpool(database.run, _check_people, filters)
    return await rpc.call("customers", "preview_segment", principal=user.principal,
                          filters=filters, team_members=await team_members(database, filters),
                          cursor=cursor, limit=limit)


@router.get("", response_model=Page[SegmentPublic], summary="List segments",
            dependencies=[requires("segments.read")])
async def list_segments(user: CurrentUser, rpc: Rpc, database: DatabaseDep,
                        mine: Annotated[bool, Query(description="only yours")] = False,
                        cursor: Cursor = None, limit: Limit = 50) -> Any:
    """Shared segments and those of the owners in your data scope, newest first, each with
    its live `member_count` in your scope."""
    page = await rpc.call("customers", "list_segments", principal=user.principal,
                          cursor=cursor, limit=limit, mine=mine)
    return {**page, "items": await _with_counts(rpc, database, user.principal,
                                                page["items"])}


@router.get("/{segment_id}", response_model=SegmentPublic, summary="Get a segment",
            dependencies=[requires("segments.read")])
async def get_segment(segment_id: SegmentId, user: CurrentUser, rpc: Rpc,
                      database: DatabaseDep) -> Any:
    """404 when it is private to someone outside your scope."""
    segment = await rpc.call("customers", "get_segment", principal=user.principal,
                             segment_id=segment_id)
    return (await _with_counts(rpc, database, user.principal, [segment]))[0]


@router.patch("/{segment_id}", response_model=SegmentPublic, summary="Change a segment",
              responses=CONFLICT_RESPONSE, dependencies=[requires("segments.write")])
async def update_segment(segment_id: SegmentId, body: SegmentUpdate, user: CurrentUser,
                         rpc: Rpc, database: DatabaseDep) -> Any:
    """Its owner, an administrator, or a manager who sees the owner's records (403 for
    others who may only read a shared segment)."""
    data = body.model_dump(mode="json", exclude_unset=True, exclude={"filters"})
    if body.filters is not None:
        data["filters"] = _filters(body.filters)
        await run_in_threadpool(database.run, _check_people, data["filters"])
    segment = await rpc.call("customers", "update_segment", principal=user.principal,
                             segment_id=segment_id, data=data)
    return (await _with_counts(rpc, database, user.principal, [segment]))[0]


@router.delete("/{segment_id}", status_code=204, summary="Delete a segment",
               dependencies=[requires("segments.write")])
async def delete_segment(segment_id: SegmentId, user: CurrentUser, rpc: Rpc) -> Response:
    await rpc.call("customers", "delete_segment", principal=user.principal,
                   segment_id=segment_id)
    return Response(status_code=204)


@router.get("/{segment_id}/members", response_model=Page[SegmentMember],
            summary="The segment's customers", dependencies=[requires("segments.read")])
async def segment_members(segment_id: SegmentId, user: CurrentUser, rpc: Rpc,
                          database: DatabaseDep, cursor: Cursor = None, limit: Limit = 50
                          ) -> Any:
    """The members you may see now, newest first, keyset pages, with their value from
    analytics (tier, RFM, churn risk)."""
    segment = await rpc.call("customers", "get_segment", principal=user.principal,
                             segment_id=segment_id)
    return await rpc.call("customers", "segment_members", principal=user.principal,
                          segment_id=segment_id, cursor=cursor, limit=limit,
                          team_members=await team_members(database, segment["filters"]))


def _cell(item: dict, key: str) -> Any:
    value = item.get(key)
    if key == "tags":
        return ",".join(value or [])
    if key == "rfm":
        return (value or {}).get("score", "")
    if key == "churn_risk":
        return "是" if value else "否"
    return "" if value is None else value


@router.get("/{segment_id}/export.csv", summary="Export the segment as CSV (导出)",
            response_class=StreamingResponse, dependencies=[requires("segments.export")],
            responses={200: {"content": {"text/csv": {}}}})
async def export_segment(segment_id: SegmentId, user: CurrentUser, rpc: Rpc,
                         database: DatabaseDep) -> StreamingResponse:
    """The members you may see, streamed as UTF-8 CSV with a BOM (Excel opens it directly),
    headers in Chinese."""
    segment = await rpc.call("customers", "get_segment", principal=user.principal,
                             segment_id=segment_id)
    members = await team_members(database, segment["filters"])
    call = {"principal": user.principal, "segment_id": segment_id, "team_members": members,
            "limit": EXPORT_PAGE}
    first = await rpc.call("customers", "segment_members", **call)  # errors before the 200

    async def rows() -> AsyncIterator[bytes]:
        page = first
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([title for _, title in EXPORT_COLUMNS])
        yield codecs.BOM_UTF8 + buffer.getvalue().encode()
        while True:
            buffer.seek(0)
            buffer.truncate()
            for item in page["items"]:
                writer.writerow([_cell(item, key) for key, _ in EXPORT_COLUMNS])
            yield buffer.getvalue().encode()
            if not page.get("next_cursor"):
                return
            page = await rpc.call("customers", "segment_members", cursor=page["next_cursor"],
                                  **call)

    filename = f"segment-{segment['id']}.csv"
    readable = quote(f"{segment['name']}.csv")
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"{filename}\"; "
                               f"filename*=UTF-8''{readable}"})
