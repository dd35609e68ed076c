"""Contracts/orders (合同订单) with their approval flow, and their receivable plans (回款计划).

Approvers come from the org chart, which only the gateway knows: level 1 is the nearest
manager of the owner's team (walking up to parent teams when that manager is the owner
himself or the team has none); level 2, needed above ``SALES_SECOND_APPROVAL_AMOUNT``, is the
next manager further up, or else an active finance user. Without any manager up the tree an
active administrator approves level 1. The sales service checks the rest (who may decide,
nobody their own contract) and records every step.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.deps import CurrentUser, DatabaseDep, Rpc, Views, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.guards import ensure_customer_visible
from gateway.models import Team, User
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.sales import (
    Comment,
    ContractCreate,
    ContractPublic,
    Reason,
    ReceivablePlanCreate,
    ReceivablePlanPublic,
)
from gateway.scopes import TeamNode

router = ResourceRouter(prefix=f"{API}/contracts", tags=["contracts"], responses=ERROR_RESPONSES)
ContractId = Annotated[str, Path(max_length=64, description="the contract's id")]


def approval_chain(owner_id: str, team_id: str | None, teams: Iterable[TeamNode],
                   active: set[str], finance: list[str], admins: list[str]) -> list[str]:
    """``[level 1, level 2?]`` approvers of a contract owned by ``owner_id`` (pure)."""
    by_id = {t.id: t for t in teams}
    managers: list[str] = []
    seen: set[str] = set()
    while team_id and team_id not in seen and team_id in by_id:
        seen.add(team_id)
        team = by_id[team_id]
        manager = team.manager_id
        if manager and manager != owner_id and manager in active and manager not in managers:
            managers.append(manager)
        team_id = team.parent_id
    if not managers:
        managers = [a for a in admins if a != owner_id][:1]
    if len(managers) < 2:
        extra = [f for f in finance if f != owner_id and f not in managers]
        managers += extra[:1]
    return managers[:2]


def _approvers(session: Session, owner_id: str) -> list[str]:
    owner = session.get(User, owner_id)
    teams = [TeamNode(id=r.id, parent_id=r.parent_id, manager_id=r.manager_id)
             for r in session.execute(select(Team.id, Team.parent_id, Team.manager_id))]
    users = session.execute(select(User.id, User.role).where(User.active.is_(True))
                            .order_by(User.id)).all()
    return approval_chain(owner_id, owner.team_id if owner else None, teams,
                          {u.id for u in users},
                          [u.id for u in users if u.role == "finance"],
                          [u.id for u in users if u.role == "admin"])


@router.post("", status_code=201, response_model=ContractPublic, summary="Create a contract",
             responses=CONFLICT_RESPONSE, dependencies=[requires("contracts.write")])
async def create_contract(body: ContractCreate, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """From an accepted quote (its lines and totals are copied; one contract per quote) or
    directly with `customer_id` and `lines`. Numbered per business year: `HT-2026-000123`."""
    if body.customer_id:
        await ensure_customer_visible(rpc, user.principal, body.customer_id)
    answer = await rpc.call("sales", "create_contract", principal=user.principal,
                            data=body.model_dump(mode="json", exclude_none=True))
    await views.changed(answer.get("customer_id"))
    return answer


@router.get("", response_model=Page[ContractPublic], summary="List contracts",
            dependencies=[requires("contracts.read")])
async def list_contracts(
    user: CurrentUser,
    rpc: Rpc,
    customer_id: str | None = Query(None, max_length=64),
    status: str | None = Query(None, max_length=20),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_contracts", principal=user.principal,
                          customer_id=customer_id, status=status, cursor=cursor, limit=limit)


@router.get("/{contract_id}", response_model=ContractPublic, summary="Get a contract",
            dependencies=[requires("contracts.read")])
async def get_contract(contract_id: ContractId, user: CurrentUser, rpc: Rpc) -> Any:
    """With its lines and every approval step."""
    return await rpc.call("sales", "get_contract", principal=user.principal,
                          contract_id=contract_id)


@router.post("/{contract_id}/submit", response_model=ContractPublic,
             summary="Submit a contract for approval", responses=CONFLICT_RESPONSE,
             dependencies=[requires("contracts.write")])
async def submit_contract(contract_id: ContractId, user: CurrentUser, rpc: Rpc,
                          database: DatabaseDep, views: Views) -> Any:
    """The approvers are computed from the owner's team tree (see the module text); each is
    notified (合同待审批) when their step comes."""
    contract = await rpc.call("sales", "get_contract", principal=user.principal,
                              contract_id=contract_id)
    approvers = await run_in_threadpool(database.run, _approvers, contract["owner_id"])
    answer = await rpc.call("sales", "submit_contract", principal=user.principal,
                            contract_id=contract_id, approvers=approvers)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{contract_id}/approve", response_model=ContractPublic,
             summary="Approve the current step", responses=CONFLICT_RESPONSE,
             dependencies=[requires("contracts.approve")])
async def approve_contract(contract_id: ContractId, user: CurrentUser, rpc: Rpc,
                           views: Views, body: Comment | None = None) -> Any:
    """Only the current step's approver (403 `not_your_approval`); never the owner (409
    `own_contract`)."""
    answer = await rpc.call("sales", "approve_contract", principal=user.principal,
                            contract_id=contract_id, comment=body.comment if body else None)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{contract_id}/reject", response_model=ContractPublic,
             summary="Reject the contract at the current step", responses=CONFLICT_RESPONSE,
             dependencies=[requires("contracts.approve")])
async def reject_contract(contract_id: ContractId, body: Comment, user: CurrentUser,
                          rpc: Rpc, views: Views) -> Any:
    """A comment is required (422 `comment_required`); the owner may submit again."""
    answer = await rpc.call("sales", "reject_contract", principal=user.principal,
                            contract_id=contract_id, comment=body.comment)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{contract_id}/sign", response_model=ContractPublic, summary="Sign a contract",
             responses=CONFLICT_RESPONSE, dependencies=[requires("contracts.write")])
async def sign_contract(contract_id: ContractId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Only an approved contract (409 `contract_not_approved`)."""
    answer = await rpc.call("sales", "sign_contract", principal=user.principal,
                            contract_id=contract_id)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{contract_id}/complete", response_model=ContractPublic,
             summary="Complete a signed contract", responses=CONFLICT_RESPONSE,
             dependencies=[requires("contracts.write")])
async def complete_contract(contract_id: ContractId, user: CurrentUser, rpc: Rpc,
                            views: Views) -> Any:
    answer = await rpc.call("sales", "complete_contract", principal=user.principal,
                            contract_id=contract_id)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{contract_id}/cancel", response_model=ContractPublic,
             summary="Cancel a contract", responses=CONFLICT_RESPONSE,
             dependencies=[requires("contracts.write")])
async def cancel_contract(contract_id: ContractId, user: CurrentUser, rpc: Rpc,
                          views: Views, body: Reason | None = None) -> Any:
    answer = await rpc.call("sales", "cancel_contract", principal=user.principal,
                            contract_id=contract_id, reason=body.reason if body else None)
    await views.changed(answer.get("customer_id"))
    return answer


@router.post("/{contract_id}/receivable-plans", status_code=201,
             response_model=ReceivablePlanPublic, summary="Plan a contract's receivables",
             responses=CONFLICT_RESPONSE, dependencies=[requires("receivables.write")])
async def create_receivable_plan(contract_id: ContractId, body: ReceivablePlanCreate,
                                 user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Instalments summing to exactly the contract total (422 otherwise), for an approved,
    signed or completed contract; one plan per contract (409 `receivable_plan_exists`)."""
    answer = await rpc.call("sales", "create_receivable_plan", principal=user.principal,
                            contract_id=contract_id, data=body.model_dump(mode="json"))
    await views.changed(*{i.get("customer_id") for i in answer.get("instalments") or []})
    return answer


@router.get("/{contract_id}/receivable-plans", response_model=ReceivablePlanPublic,
            summary="A contract's receivable plan", dependencies=[requires("receivables.read")])
async def get_receivable_plan(contract_id: ContractId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("sales", "get_receivable_plan", principal=user.principal,
                          contract_id=contract_id)
