"""Service tickets (客户反馈): lifecycle, comments, assignment, satisfaction, SLA settings."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmkit.errors import ValidationFailed
from gateway.db import Database
from gateway.deps import CurrentUser, DatabaseDep, Rpc, Views, requires
from gateway.errors import ERROR_RESPONSES
from gateway.guards import ensure_active_user, ensure_customer_visible
from gateway.models import Team, User
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.service_desk import (
    CalendarDayList,
    CalendarDaysIn,
    CommentCreate,
    CommentList,
    CommentPublic,
    SlaPolicyIn,
    SlaPolicyList,
    SlaPolicyOut,
    TicketAssign,
    TicketCreate,
    TicketPublic,
    TicketRate,
    TicketStatusFilter,
)

router = ResourceRouter(prefix=f"{API}/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
TicketId = Annotated[str, Path(max_length=64, description="the ticket's id")]


# --- what only the gateway knows: service staff and managers --------------------------------

def _service_staff(session: Session) -> list[str]:
    return list(session.scalars(select(User.id).where(User.role == "service",
                                                      User.active.is_(True)).order_by(User.id)))


def _manager_of(session: Session, user_id: str) -> str | None:
    """The manager of the user's team, or of the nearest parent team with another manager."""
    user = session.get(User, user_id)
    team_id = user.team_id if user else None
    seen: set[str] = set()
    while team_id and team_id not in seen:
        seen.add(team_id)
        team = session.get(Team, team_id)
        if team is None:
            return None
        if team.manager_id and team.manager_id != user_id:
            return team.manager_id
        team_id = team.parent_id
    return None


def _managers_of(session: Session, user_ids: list[str]) -> dict[str, str | None]:
    return {uid: _manager_of(session, uid) for uid in user_ids}


async def service_staff(database: Database) -> list[str]:
    return await run_in_threadpool(database.run, _service_staff)


async def manager_of(database: Database, user_id: str) -> str | None:
    return await run_in_threadpool(database.run, _manager_of, user_id)


async def managers_of(database: Database, user_ids: list[str]) -> dict[str, str | None]:
    return await run_in_threadpool(database.run, _managers_of, user_ids)


# --- tickets ---------------------------------------------------------------------------------

@router.post("", status_code=201, response_model=TicketPublic, summary="Open a ticket",
             dependencies=[requires("tickets.write")])
async def create_ticket(body: TicketCreate, user: CurrentUser, rpc: Rpc,
                        database: DatabaseDep, views: Views) -> Any:
    """The customer must be one you can see (404 otherwise); `assignee_id`, if given, an
    active user (422 otherwise); or `auto_assign: true` gives the ticket to the active
    service user with the fewest open tickets. SLA deadlines (business hours) follow the
    priority and category."""
    extra: dict[str, Any] = {}
    if body.assignee_id is not None:
        await ensure_active_user(database, body.assignee_id, "assignee_id")
        extra["manager_id"] = await manager_of(database, body.assignee_id)
    await ensure_customer_visible(rpc, user.principal, body.customer_id)
    if body.assignee_id is None and body.auto_assign:
        candidates = await service_staff(database)
        extra["candidates"] = candidates
        extra["managers"] = await managers_of(database, candidates)
    answer = await rpc.call("service_desk", "create_ticket", principal=user.principal,
                            data=body.model_dump(mode="json", exclude={"auto_assign"}), **extra)
    await views.changed(body.customer_id)
    return answer


@router.get("", response_model=Page[TicketPublic], summary="List tickets",
            dependencies=[requires("tickets.read")])
async def list_tickets(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = None,
    status: TicketStatusFilter | None = None,
    assignee_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    extra = {"assignee_id": assignee_id} if assignee_id else {}
    return await rpc.call("service_desk", "list_tickets", principal=user.principal,
                          customer_id=customer_id, status=status.value if status else None,
                          cursor=cursor, limit=limit, **extra)


# --- SLA policies and the business calendar (declared before /{ticket_id}) ------------------

@router.get("/sla/policies", response_model=SlaPolicyList, summary="SLA policies",
            dependencies=[requires("tickets.read")])
async def list_sla_policies(user: CurrentUser, rpc: Rpc) -> Any:
    """Per priority (and category): first response and resolution in business minutes."""
    return await rpc.call("service_desk", "list_sla_policies", principal=user.principal)


@router.put("/sla/policies", response_model=SlaPolicyOut, summary="Set an SLA policy",
            dependencies=[requires("sla.manage")])
async def set_sla_policy(body: SlaPolicyIn, user: CurrentUser, rpc: Rpc) -> Any:
    """Applies to tickets opened from now on."""
    return await rpc.call("service_desk", "set_sla_policy", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("/sla/calendar", response_model=CalendarDayList,
            summary="Holidays and make-up working days", dependencies=[requires("tickets.read")])
async def list_calendar_days(user: CurrentUser, rpc: Rpc,
                             year: Annotated[int | None, Query(ge=1900, le=9999)] = None) -> Any:
    return await rpc.call("service_desk", "list_calendar_days", principal=user.principal,
                          year=year)


@router.put("/sla/calendar", response_model=CalendarDayList,
            summary="Add or change holidays (节假日) and make-up working days (调休)",
            dependencies=[requires("sla.manage")])
async def set_calendar_days(body: CalendarDaysIn, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("service_desk", "set_calendar_days", principal=user.principal,
                          days=body.model_dump(mode="json")["days"])


@router.delete("/sla/calendar/{day}", summary="Remove a holiday or make-up working day",
               dependencies=[requires("sla.manage")])
async def delete_calendar_day(day: dt.date, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("service_desk", "delete_calendar_day", principal=user.principal,
                          day=day.isoformat())


# --- one ticket ------------------------------------------------------------------------------

@router.get("/{ticket_id}", response_model=TicketPublic, summary="Get a ticket",
            dependencies=[requires("tickets.read")])
async def get_ticket(ticket_id: TicketId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("service_desk", "get_ticket", principal=user.principal,
                          ticket_id=ticket_id)


@router.post("/{ticket_id}/assign", response_model=TicketPublic, summary="Assign a ticket",
             dependencies=[requires("tickets.assign")])
async def assign_ticket(ticket_id: TicketId, body: TicketAssign, user: CurrentUser, rpc: Rpc,
                        database: DatabaseDep, views: Views) -> Any:
    """`assignee_id`: an active user in your scope (422 otherwise). Without it and with
    `auto_assign: true`: the active service user with the fewest open tickets. The
    assignee's team manager is told about SLA alerts."""
    if body.assignee_id is not None:
        await ensure_active_user(database, body.assignee_id, "assignee_id")
        answer = await rpc.call("service_desk", "assign_ticket", principal=user.principal,
                                ticket_id=ticket_id, assignee_id=body.assignee_id,
                                manager_id=await manager_of(database, body.assignee_id))
    elif not body.auto_assign:
        raise ValidationFailed("validation_error", "give assignee_id or auto_assign: true",
                               [{"field": "assignee_id", "message": "required"}])
    else:
        candidates = await service_staff(database)
        answer = await rpc.call("service_desk", "assign_ticket", principal=user.principal,
                                ticket_id=ticket_id, candidates=candidates,
                                managers=await managers_of(database, candidates))
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{ticket_id}/comments", status_code=201, response_model=CommentPublic,
             summary="Comment on a ticket", dependencies=[requires("tickets.write")])
async def add_comment(ticket_id: TicketId, body: CommentCreate, user: CurrentUser,
                      rpc: Rpc) -> Any:
    """`internal: true` for staff only, else visible to the customer (and it counts as the
    first response). The ticket in the customer's 360° view follows with the event
    `ticket.commented` (this answer does not name the customer)."""
    return await rpc.call("service_desk", "add_comment", principal=user.principal,
                          ticket_id=ticket_id, data=body.model_dump(mode="json"))


@router.get("/{ticket_id}/comments", response_model=CommentList, summary="A ticket's comments",
            dependencies=[requires("tickets.read")])
async def list_comments(ticket_id: TicketId, user: CurrentUser, rpc: Rpc,
                        internal: bool | None = None) -> Any:
    return await rpc.call("service_desk", "list_comments", principal=user.principal,
                          ticket_id=ticket_id, internal=internal)


def _transition_route(action: str, summary: str, doc: str) -> None:
    async def route(ticket_id: TicketId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
        answer = await rpc.call("service_desk", f"{action}_ticket", principal=user.principal,
                                ticket_id=ticket_id)
        await views.changed(answer.get("customer_id"))
        return answer

    route.__doc__ = doc
    route.__name__ = f"{action}_ticket"
    permission = "tickets.write" if action == "reopen" else "tickets.assign"
    router.post(f"/{{ticket_id}}/{action}", response_model=TicketPublic, summary=summary,
                dependencies=[requires(permission)])(route)


_transition_route("start", "Start work on a ticket",
                  "open | reopened → in_progress; records the first response and takes an "
                  "unassigned ticket (409 from another status).")
_transition_route("wait", "Wait on the customer",
                  "in_progress → waiting: the SLA clock stops.")
_transition_route("resume", "Resume after waiting",
                  "waiting → in_progress: the SLA deadlines move by the business time waited.")
_transition_route("resolve", "Resolve a ticket", "in_progress → resolved.")
_transition_route("close", "Close a ticket", "resolved → closed.")
_transition_route("reopen", "Reopen a ticket",
                  "resolved | closed → reopened, within TICKET_REOPEN_DAYS (default 7) of the "
                  "resolution; 409 `reopen_window_passed` after.")


@router.post("/{ticket_id}/rate", response_model=TicketPublic,
             summary="Rate a closed ticket (客户满意度)", dependencies=[requires("tickets.write")])
async def rate_ticket(ticket_id: TicketId, body: TicketRate, user: CurrentUser,
                      rpc: Rpc, views: Views) -> Any:
    """Only a closed ticket, once (409 otherwise)."""
    answer = await rpc.call("service_desk", "rate_ticket", principal=user.principal,
                            ticket_id=ticket_id, data=body.model_dump(mode="json"))
    await views.changed(answer.get("customer_id"))
    return answer
