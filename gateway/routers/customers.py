"""Customers (客户信息库): records, contacts, follow-ups and plans, level and credit limit, the
customer public pool (客户公海), merge, action records and the 360° view (客户全貌)."""
from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Body, Path, Query, Response

from crmkit.errors import DomainError
from crmkit.sections import unavailable
from gateway.deps import CurrentUser, Rpc, Views, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.permissions import PERMISSIONS, allowed
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import CustomerLevel, CustomerStatus, Items, ListScope, Page
from gateway.schemas.customers import (
    ActionPublic,
    ContactCreate,
    ContactPublic,
    CreditLimitChange,
    CreditLimitHistory,
    CustomerCreate,
    CustomerCreated,
    CustomerDetail,
    CustomerPoolRules,
    CustomerPoolRulesPreview,
    CustomerPublic,
    CustomerUpdate,
    FollowUpCreate,
    FollowUpPublic,
    LevelChange,
    MergeRequest,
    PlanCreate,
    PlanPublic,
    PlanStatusChange,
    PoolPreview,
    ReleaseRequest,
)

router = ResourceRouter(prefix=f"{API}/customers", tags=["customers"], responses=ERROR_RESPONSES)
pool_router = ResourceRouter(prefix=f"{API}/customer-pool", tags=["customers"],
                        responses=ERROR_RESPONSES)
CustomerId = Annotated[str, Path(max_length=64, description="the customer's id")]
SubId = Annotated[str, Path(max_length=64)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("", status_code=201, response_model=CustomerCreated, summary="Create a customer",
             responses=CONFLICT_RESPONSE, dependencies=[requires("customers.write")])
async def create_customer(body: CustomerCreate, user: CurrentUser, rpc: Rpc) -> Any:
    """You become the owner. Look-alike customers come back in `duplicates` as a warning; the
    customer is created anyway."""
    return await rpc.call("customers", "create_customer", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("", response_model=Page[CustomerPublic], summary="List customers",
            dependencies=[requires("customers.read")])
async def list_customers(
    user: CurrentUser,
    rpc: Rpc,
    scope: Annotated[ListScope, Query(description="pool: the customer public pool (客户公海); "
                                                  "mine: yours; all: all you may see")]
    = ListScope.all,
    level: CustomerLevel | None = None,
    status: CustomerStatus | None = None,
    owner_id: str | None = None,
    tag: Annotated[str | None, Query(max_length=30, description="has this tag")] = None,
    q: Annotated[str | None, Query(max_length=100, description="name, phone or e-mail "
                                                               "contains (中文 too)")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Newest first, keyset pages. Merged customers never appear."""
    extra = {"tag": tag} if tag else {}
    return await rpc.call("customers", "list_customers", principal=user.principal,
                          scope=scope.value, level=level.value if level else None,
                          status=status.value if status else None, owner_id=owner_id, q=q,
                          cursor=cursor, limit=limit, **extra)


@router.get("/{customer_id}", response_model=CustomerDetail, summary="Get a customer",
            dependencies=[requires("customers.read")])
async def get_customer(customer_id: CustomerId, user: CurrentUser, rpc: Rpc) -> Any:
    """With its contacts. A customer outside your data scope is 404; a merged one is 404
    `customer_merged` whose `details.merged_into` names the customer to read instead."""
    return await rpc.call("customers", "get_customer", principal=user.principal,
                          customer_id=customer_id)


@router.patch("/{customer_id}", response_model=CustomerPublic, summary="Change a customer",
              dependencies=[requires("customers.write")])
async def update_customer(customer_id: CustomerId, body: CustomerUpdate, user: CurrentUser,
                          rpc: Rpc, views: Views) -> Any:
    """Only the fields sent change (each change is kept in the action record). Owner, status
    and credit limit are not fields of this request (422); they change through their own
    actions. A different `level` needs a manager or an administrator (403 otherwise)."""
    answer = await rpc.call("customers", "update_customer", principal=user.principal,
                            customer_id=customer_id,
                            data=body.model_dump(mode="json", exclude_unset=True))
    await views.changed(customer_id)
    return answer


# -- contacts ------------------------------------------------------------------------------------

@router.post("/{customer_id}/contacts", status_code=201, response_model=ContactPublic,
             summary="Add a contact", dependencies=[requires("customers.write")])
async def add_contact(customer_id: CustomerId, body: ContactCreate, user: CurrentUser,
                      rpc: Rpc, views: Views) -> Any:
    answer = await rpc.call("customers", "add_contact", principal=user.principal,
                            customer_id=customer_id, data=body.model_dump(mode="json"))
    await views.changed(customer_id)
    return answer


@router.get("/{customer_id}/contacts", response_model=Items[ContactPublic],
            summary="List contacts", dependencies=[requires("customers.read")])
async def list_contacts(customer_id: CustomerId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("customers", "list_contacts", principal=user.principal,
                          customer_id=customer_id)


@router.post("/{customer_id}/contacts/{contact_id}/primary",
             response_model=Items[ContactPublic], summary="Make a contact the primary one",
             dependencies=[requires("customers.write")])
async def set_primary_contact(customer_id: CustomerId, contact_id: SubId, user: CurrentUser,
                              rpc: Rpc, views: Views) -> Any:
    """The previous primary contact is demoted in the same transaction."""
    answer = await rpc.call("customers", "set_primary_contact", principal=user.principal,
                            customer_id=customer_id, contact_id=contact_id)
    await views.changed(customer_id)
    return answer


# -- follow-ups and plans --------------------------------------------------------------------------

@router.post("/{customer_id}/follow-ups", status_code=201, response_model=FollowUpPublic,
             summary="Record a follow-up (跟进记录)", dependencies=[requires("customers.write")])
async def add_follow_up(customer_id: CustomerId, body: FollowUpCreate, user: CurrentUser,
                        rpc: Rpc, views: Views) -> Any:
    """Updates the customer's `last_contact_at` (which keeps it out of the public pool)."""
    answer = await rpc.call("customers", "add_follow_up", principal=user.principal,
                            customer_id=customer_id, data=body.model_dump(mode="json"))
    await views.changed(customer_id)
    return answer


@router.get("/{customer_id}/follow-ups", response_model=Page[FollowUpPublic],
            summary="List follow-ups", dependencies=[requires("customers.read")])
async def list_follow_ups(customer_id: CustomerId, user: CurrentUser, rpc: Rpc,
                          cursor: Cursor = None, limit: Limit = 50) -> Any:
    return await rpc.call("customers", "list_follow_ups", principal=user.principal,
                          customer_id=customer_id, cursor=cursor, limit=limit)


@router.post("/{customer_id}/follow-up-plans", status_code=201, response_model=PlanPublic,
             summary="Plan a follow-up or visit (跟进计划 / 拜访计划)",
             dependencies=[requires("customers.write")])
async def create_plan(customer_id: CustomerId, body: PlanCreate, user: CurrentUser,
                      rpc: Rpc, views: Views) -> Any:
    """The plan goes on your calendar (`GET /calendar`); you get a reminder
    `REMINDER_LEAD_MINUTES` (30) minutes before `scheduled_at`."""
    answer = await rpc.call("customers", "create_plan", principal=user.principal,
                            customer_id=customer_id, data=body.model_dump(mode="json"))
    await views.changed(customer_id)
    return answer


@router.get("/{customer_id}/follow-up-plans", response_model=Page[PlanPublic],
            summary="List follow-up plans", dependencies=[requires("customers.read")])
async def list_plans(customer_id: CustomerId, user: CurrentUser, rpc: Rpc,
                     status: Annotated[str | None, Query(pattern="^(planned|done|cancelled)$")]
                     = None, cursor: Cursor = None, limit: Limit = 50) -> Any:
    return await rpc.call("customers", "list_plans", principal=user.principal,
                          customer_id=customer_id, status=status, cursor=cursor, limit=limit)


@router.post("/{customer_id}/follow-up-plans/{plan_id}/status", response_model=PlanPublic,
             summary="Mark a plan done or cancelled", responses=CONFLICT_RESPONSE,
             dependencies=[requires("customers.write")])
async def change_plan_status(customer_id: CustomerId, plan_id: SubId, body: PlanStatusChange,
                             user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Only a `planned` plan changes (409 `plan_closed` otherwise)."""
    answer = await rpc.call("customers", "change_plan_status", principal=user.principal,
                            customer_id=customer_id, plan_id=plan_id,
                            data=body.model_dump(mode="json"))
    await views.changed(customer_id)
    return answer


# -- level, credit limit, action records ---------------------------------------------------------

@router.post("/{customer_id}/level", response_model=CustomerPublic,
             summary="Set the customer level (客户级别)",
             dependencies=[requires("customers.manage")])
async def change_level(customer_id: CustomerId, body: LevelChange, user: CurrentUser,
                       rpc: Rpc, views: Views) -> Any:
    """Managers and administrators; the reason is kept in the action record."""
    answer = await rpc.call("customers", "change_level", principal=user.principal,
                            customer_id=customer_id, data=body.model_dump(mode="json"))
    await views.changed(customer_id)
    return answer


@router.post("/{customer_id}/credit-limit", response_model=CustomerPublic,
             summary="Change the credit limit (信用额度)",
             dependencies=[requires("customers.manage")])
async def change_credit_limit(customer_id: CustomerId, body: CreditLimitChange,
                              user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """Managers and administrators, with a reason; kept in the history. The same limit again
    is 422 `credit_limit_unchanged`."""
    answer = await rpc.call("customers", "change_credit_limit", principal=user.principal,
                            customer_id=customer_id, data=body.model_dump(mode="json"))
    await views.changed(customer_id)
    return answer


@router.get("/{customer_id}/credit-limit", response_model=CreditLimitHistory,
            summary="Credit limit and its history", dependencies=[requires("customers.read")])
async def credit_limit_history(customer_id: CustomerId, user: CurrentUser, rpc: Rpc,
                               cursor: Cursor = None, limit: Limit = 50) -> Any:
    return await rpc.call("customers", "credit_limit_history", principal=user.principal,
                          customer_id=customer_id, cursor=cursor, limit=limit)


@router.get("/{customer_id}/actions", response_model=Page[ActionPublic],
            summary="Action records (操作记录)", dependencies=[requires("customers.read")])
async def list_actions(customer_id: CustomerId, user: CurrentUser, rpc: Rpc,
                       cursor: Cursor = None, limit: Limit = 50) -> Any:
    """Who changed what, when, from what to what; newest first. Also readable for a merged
    customer."""
    return await rpc.call("customers", "list_actions", principal=user.principal,
                          customer_id=customer_id, cursor=cursor, limit=limit)


# -- the public pool (客户公海) and merge --------------------------------------------------------

@router.post("/{customer_id}/claim", response_model=CustomerPublic,
             summary="Claim a pool customer", responses=CONFLICT_RESPONSE,
             dependencies=[requires("customers.claim")])
async def claim_customer(customer_id: CustomerId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """409 `customer_already_claimed` when someone else was first, `claim_limit_reached` at the
    cap of customers per rep."""
    answer = await rpc.call("customers", "claim_customer", principal=user.principal,
                            customer_id=customer_id)
    await views.changed(customer_id)
    return answer


@router.post("/{customer_id}/release", response_model=CustomerPublic,
             summary="Release a customer to the pool", responses=CONFLICT_RESPONSE,
             dependencies=[requires("customers.claim")])
async def release_customer(customer_id: CustomerId, body: ReleaseRequest, user: CurrentUser,
                           rpc: Rpc, views: Views) -> Any:
    answer = await rpc.call("customers", "release_customer", principal=user.principal,
                            customer_id=customer_id, reason=body.reason)
    await views.changed(customer_id)
    return answer


@router.post("/{customer_id}/lock", response_model=CustomerPublic,
             summary="Lock a customer (锁定: never returned to the pool)",
             responses=CONFLICT_RESPONSE, dependencies=[requires("customers.claim")])
async def lock_customer(customer_id: CustomerId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """409 `claim_limit_reached` at the cap of locked customers per rep."""
    answer = await rpc.call("customers", "lock_customer", principal=user.principal,
                            customer_id=customer_id)
    await views.changed(customer_id)
    return answer


@router.post("/{customer_id}/unlock", response_model=CustomerPublic,
             summary="Unlock a customer", responses=CONFLICT_RESPONSE,
             dependencies=[requires("customers.claim")])
async def unlock_customer(customer_id: CustomerId, user: CurrentUser, rpc: Rpc,
                          views: Views) -> Any:
    answer = await rpc.call("customers", "unlock_customer", principal=user.principal,
                            customer_id=customer_id)
    await views.changed(customer_id)
    return answer


@router.post("/{customer_id}/merge", response_model=CustomerDetail,
             summary="Merge a duplicate into this customer", responses=CONFLICT_RESPONSE,
             dependencies=[requires("customers.write")])
async def merge_customers(customer_id: CustomerId, body: MergeRequest, user: CurrentUser,
                          rpc: Rpc, views: Views) -> Any:
    """Contacts, follow-ups and plans of `other_id` move here; `other_id` is marked merged
    (404 `customer_merged` from then on) and `customer.merged` lets the other services re-point
    their documents. Managers and administrators, or the owner of both customers."""
    answer = await rpc.call("customers", "merge_customers", principal=user.principal,
                            customer_id=customer_id, other_id=body.other_id)
    await views.changed(customer_id, body.other_id)
    return answer


@pool_router.get("/rules", response_model=CustomerPoolRules, summary="Customer pool rules",
                 dependencies=[requires("customer_pool.read")])
async def get_pool_rules(user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("customers", "get_pool_rules", principal=user.principal)


@pool_router.put("/rules", response_model=CustomerPoolRules,
                 summary="Set the customer pool rules",
                 dependencies=[requires("customer_pool.manage")])
async def set_pool_rules(body: CustomerPoolRules, user: CurrentUser, rpc: Rpc) -> Any:
    """Administrators. Replaces the rules; fields left out take their defaults."""
    return await rpc.call("customers", "set_pool_rules", principal=user.principal,
                          rules=body.model_dump(mode="json", exclude_unset=True))


@pool_router.post("/rules/preview", response_model=PoolPreview,
                  summary="Preview the customer pool rules (dry run)",
                  dependencies=[requires("customer_pool.read")])
async def preview_pool_rules(user: CurrentUser, rpc: Rpc,
                             body: Annotated[CustomerPoolRulesPreview | None, Body()] = None
                             ) -> Any:
    """The customers the rules (sent, or the saved ones) would return to the pool now;
    nothing changes."""
    rules = body.rules.model_dump(mode="json", exclude_unset=True) if body and body.rules else None
    return await rpc.call("customers", "preview_pool_rules", principal=user.principal,
                          rules=rules)


# -- insights: repurchase score and recommendations (issue 12) ------------------------------

@router.get("/{customer_id}/insights", summary="Repurchase score and recommendations",
            dependencies=[requires("customers.read"), requires("analytics.read")])
async def customer_insights(customer_id: CustomerId, user: CurrentUser, rpc: Rpc) -> Any:
    """The customer's repurchase score (0–100: the probability that it signs a contract
    within the purchase window) with the factors that raised or lowered it, and products
    that customers with a similar purchase history bought, each with its reason ("bought by
    34% of customers who bought X"). `repurchase` is null until the model has been fitted
    (docs/analytics.md § Scoring). A customer outside your scope is 404."""
    principal = user.principal
    await rpc.call("customers", "get_customer", principal=principal,
                   customer_id=customer_id)   # the customers service decides the scope
    try:
        return await rpc.call("analytics", "customer_insights", principal=principal,
                              customer_id=customer_id)
    except DomainError as exc:
        if exc.status != 404:
            raise
    # a customer analytics has not heard of yet: nothing to say about it
    return {"customer_id": customer_id, "repurchase": None, "recommendations": []}


# -- the 360° view (客户全貌) --------------------------------------------------------------------

#: section -> (service, permissions the caller's role needs to see it: the first one the
#: permission table defines is checked). Each service answers all its sections in one RPC,
#: ``customer_sections`` (crmkit.sections), each section failing on its own.
OVERVIEW_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "opportunities": ("sales", ("opportunities.read",)),
    "quotes": ("sales", ("quotes.read", "opportunities.read")),
    "contracts": ("sales", ("contracts.read", "opportunities.read")),
    "receivable_plans": ("sales", ("receivables.read", "opportunities.read")),
    "payments": ("sales", ("receivables.read", "opportunities.read")),
    "invoices": ("sales", ("invoices.read", "opportunities.read")),
    "tickets": ("service_desk", ("tickets.read",)),
    "returns": ("service_desk", ("returns.read", "tickets.read")),
    "work_orders": ("service_desk", ("work_orders.read", "tickets.read")),
    "profile": ("analytics", ("analytics.read",)),
    "insights": ("analytics", ("analytics.read",)),
}
OVERVIEW_TIMEOUT = 2.0


async def _sections(rpc, principal: dict, service: str, names: list[str],
                    customer_id: str) -> dict[str, dict]:
    """One service's sections; when the call itself fails, all of them say why."""
    try:
        async with asyncio.timeout(OVERVIEW_TIMEOUT + 0.5):
            answer = await rpc.call(service, "customer_sections", principal=principal,
                                    timeout=OVERVIEW_TIMEOUT, customer_id=customer_id,
                                    sections=names)
    except DomainError as exc:
        failed = unavailable(exc.code, exc.message)
    except TimeoutError:
        failed = unavailable("service_timeout",
                              f"{service} did not answer within {OVERVIEW_TIMEOUT:g} s")
    except Exception as exc:  # noqa: BLE001 - one service failing never fails the view
        failed = unavailable("internal_error", type(exc).__name__)
    else:
        return {name: answer.get(name) or unavailable("internal_error", "no answer")
                for name in names}
    return {name: failed for name in names}


async def assemble_overview(customer_id: str, user: Any, rpc: Any) -> dict[str, Any]:
    """The view as the services answer it now (no cache): the customers service first (it
    decides the scope: a 404 stops here), then one ``customer_sections`` call per other
    service, in parallel."""
    principal = user.principal
    base = await rpc.call("customers", "customer_overview", principal=principal,
                          customer_id=customer_id)   # scope check first: 404 stops here
    sections: dict[str, Any] = {}
    wanted: dict[str, list[str]] = {}
    for name, (service, permissions) in OVERVIEW_SECTIONS.items():
        permission = next((p for p in permissions if p in PERMISSIONS), None)
        if permission is not None and not allowed(user.role, permission):
            sections[name] = unavailable("forbidden",
                                          f"the {user.role} role may not see {name}")
            continue
        wanted.setdefault(service, []).append(name)
    for answer in await asyncio.gather(*[_sections(rpc, principal, service, names, customer_id)
                                         for service, names in wanted.items()]):
        sections.update(answer)
    return {**base, "sections": {name: sections[name] for name in OVERVIEW_SECTIONS},
            "partial": any(not s["available"] for s in sections.values())}


@router.get("/{customer_id}/overview", summary="The 360° view (客户全貌)",
            dependencies=[requires("customers.read")],
            responses={200: {"headers": {"X-View-Cache": {
                "description": "hit (served from the cache), miss (assembled now; kept unless "
                               "partial), "
                               "bypass (assembled without the cache)",
                "schema": {"type": "string"}}}}})
async def overview(customer_id: CustomerId, user: CurrentUser, rpc: Rpc, views: Views) -> Any:
    """The customer, contacts, follow-ups and plans, then every other service's documents of
    this customer: one call per service for all its sections, in parallel (2 s each). A
    section whose service fails, is down, is slow or is not for your role is
    `{"available": false, "error": {code, message}}` while the rest of the view is served
    (`partial: true`); a customer outside your scope is 404.

    Complete views are cached per customer and per caller's data scope (docs/api.md § The
    360° view: what shows at once, what after the event lag, and the
    `VIEW_CACHE_TTL_SECONDS` bound)."""
    cached = await views.lookup(customer_id, user.principal)
    if cached.body is not None:
        return Response(cached.body, media_type="application/json",
                        headers={"X-View-Cache": "hit"})
    body = await views.assemble_once(cached, lambda: assemble_overview(customer_id, user, rpc))
    return Response(body, media_type="application/json",
                    headers={"X-View-Cache": cached.result})
