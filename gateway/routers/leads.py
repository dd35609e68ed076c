"""Leads (线索) and the public pool: create, list, claim, release, assign, follow up, convert."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gateway.deps import CurrentUser, DatabaseDep, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.guards import ensure_assignable, ensure_owner_allowed
from gateway.routers import API
from gateway.schemas.common import LeadSource, LeadStatus, ListScope, Page
from gateway.schemas.leads import (
    AssignRequest,
    FollowUpCreate,
    FollowUpPublic,
    LeadCreate,
    LeadPublic,
    LeadUpdate,
    ReleaseRequest,
)

router = APIRouter(prefix=f"{API}/leads", tags=["leads"], responses=ERROR_RESPONSES)
LeadId = Annotated[str, Path(max_length=64, description="the lead's id")]


@router.post("", status_code=201, response_model=LeadPublic, summary="Create a lead",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.write")])
async def create_lead(body: LeadCreate, user: CurrentUser, rpc: Rpc,
                      database: DatabaseDep) -> Any:
    """Without `owner_id` the lead lands in the public pool (公海池). A lead whose phone, e-mail
    or company matches an existing one: 409 with the existing lead's id in `details`."""
    if body.owner_id is not None:
        await ensure_owner_allowed(database, user, body.owner_id)
    return await rpc.call("leads", "create_lead", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("", response_model=Page[LeadPublic], summary="List leads",
            dependencies=[requires("leads.read")])
async def list_leads(
    user: CurrentUser,
    rpc: Rpc,
    scope: Annotated[ListScope, Query(description="pool: unowned; mine: yours; all: every "
                                                  "lead you may see")] = ListScope.all,
    status: LeadStatus | None = None,
    source: LeadSource | None = None,
    owner_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="name, company, phone or "
                                                               "e-mail contains")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Keyset pages; pass `next_cursor` back as `cursor`."""
    return await rpc.call("leads", "list_leads", principal=user.principal, scope=scope.value,
                          status=status.value if status else None,
                          source=source.value if source else None, owner_id=owner_id, q=q,
                          cursor=cursor, limit=limit)


@router.get("/{lead_id}", response_model=LeadPublic, summary="Get a lead",
            dependencies=[requires("leads.read")])
async def get_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc) -> Any:
    """A lead outside your data scope is 404."""
    return await rpc.call("leads", "get_lead", principal=user.principal, lead_id=lead_id)


@router.patch("/{lead_id}", response_model=LeadPublic, summary="Change a lead",
              dependencies=[requires("leads.write")])
async def update_lead(lead_id: LeadId, body: LeadUpdate, user: CurrentUser, rpc: Rpc) -> Any:
    """Only the fields sent change. Owner, status and customer are not fields of this
    request (422): use claim, release, assign and convert."""
    return await rpc.call("leads", "update_lead", principal=user.principal, lead_id=lead_id,
                          data=body.model_dump(mode="json", exclude_unset=True))


@router.post("/{lead_id}/claim", response_model=LeadPublic, summary="Claim a lead (领取)",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.claim")])
async def claim_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc) -> Any:
    """Take a lead from the public pool. Someone else was first: 409 `lead_already_claimed`;
    over the pool's limits: 409 `claim_limit_reached`."""
    return await rpc.call("leads", "claim_lead", principal=user.principal, lead_id=lead_id)


@router.post("/{lead_id}/release", response_model=LeadPublic,
             summary="Return a lead to the public pool (退回公海)", responses=CONFLICT_RESPONSE,
             dependencies=[requires("leads.claim")])
async def release_lead(lead_id: LeadId, body: ReleaseRequest, user: CurrentUser,
                       rpc: Rpc) -> Any:
    return await rpc.call("leads", "release_lead", principal=user.principal, lead_id=lead_id,
                          reason=body.reason)


@router.post("/{lead_id}/assign", response_model=LeadPublic, summary="Assign a lead (分配)",
             responses=CONFLICT_RESPONSE, dependencies=[requires("leads.assign")])
async def assign_lead(lead_id: LeadId, body: AssignRequest, user: CurrentUser, rpc: Rpc,
                      database: DatabaseDep) -> Any:
    """Managers and administrators. `owner_id` must be an active user within your data scope
    (422 otherwise)."""
    await ensure_assignable(database, user, body.owner_id)
    return await rpc.call("leads", "assign_lead", principal=user.principal, lead_id=lead_id,
                          owner_id=body.owner_id)


@router.post("/{lead_id}/follow-ups", status_code=201, response_model=FollowUpPublic,
             summary="Record a follow-up (跟进记录)", dependencies=[requires("leads.write")])
async def add_follow_up(lead_id: LeadId, body: FollowUpCreate, user: CurrentUser,
                        rpc: Rpc) -> Any:
    """Moves the lead's follow-up deadline; `next_follow_up_at` plans the next one."""
    return await rpc.call("leads", "add_follow_up", principal=user.principal, lead_id=lead_id,
                          data=body.model_dump(mode="json"))


@router.post("/{lead_id}/convert", response_model=LeadPublic,
             summary="Convert a lead into a customer (转化)", responses=CONFLICT_RESPONSE,
             dependencies=[requires("leads.write")])
async def convert_lead(lead_id: LeadId, user: CurrentUser, rpc: Rpc) -> Any:
    """The lead becomes `converted`; the customers service creates the customer from the
    event (its id appears as `customer_id` once created)."""
    return await rpc.call("leads", "convert_lead", principal=user.principal, lead_id=lead_id)
