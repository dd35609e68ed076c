"""Customers (客户信息库)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.routers import API
from gateway.schemas.common import CustomerLevel, CustomerStatus, ListScope, Page
from gateway.schemas.customers import (
    CustomerCreate,
    CustomerCreated,
    CustomerPublic,
    CustomerUpdate,
)

router = APIRouter(prefix=f"{API}/customers", tags=["customers"], responses=ERROR_RESPONSES)
CustomerId = Annotated[str, Path(max_length=64, description="the customer's id")]


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
    q: Annotated[str | None, Query(max_length=100, description="name, phone or e-mail "
                                                               "contains")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("customers", "list_customers", principal=user.principal,
                          scope=scope.value, level=level.value if level else None,
                          status=status.value if status else None, owner_id=owner_id, q=q,
                          cursor=cursor, limit=limit)


@router.get("/{customer_id}", response_model=CustomerPublic, summary="Get a customer",
            dependencies=[requires("customers.read")])
async def get_customer(customer_id: CustomerId, user: CurrentUser, rpc: Rpc) -> Any:
    """A customer outside your data scope is 404."""
    return await rpc.call("customers", "get_customer", principal=user.principal,
                          customer_id=customer_id)


@router.patch("/{customer_id}", response_model=CustomerPublic, summary="Change a customer",
              dependencies=[requires("customers.write")])
async def update_customer(customer_id: CustomerId, body: CustomerUpdate, user: CurrentUser,
                          rpc: Rpc) -> Any:
    """Only the fields sent change. Owner, status and credit limit are not fields of this
    request (422); they change through their own actions."""
    return await rpc.call("customers", "update_customer", principal=user.principal,
                          customer_id=customer_id,
                          data=body.model_dump(mode="json", exclude_unset=True))
