"""Products (产品): the catalogue quotes and contracts are priced from."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from gateway.deps import CurrentUser, Rpc, requires
from gateway.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from gateway.routers import API, ResourceRouter
from gateway.schemas.common import Page
from gateway.schemas.sales import ProductCreate, ProductPublic, ProductUpdate

router = ResourceRouter(prefix=f"{API}/products", tags=["products"], responses=ERROR_RESPONSES)
ProductId = Annotated[str, Path(max_length=64, description="the product's id")]


@router.post("", status_code=201, response_model=ProductPublic, summary="Create a product",
             responses=CONFLICT_RESPONSE, dependencies=[requires("products.manage")])
async def create_product(body: ProductCreate, user: CurrentUser, rpc: Rpc) -> Any:
    """The SKU is unique (409 `sku_taken`); the list price is a decimal string ≥ 0."""
    return await rpc.call("sales", "create_product", principal=user.principal,
                          data=body.model_dump(mode="json"))


@router.get("", response_model=Page[ProductPublic], summary="List products",
            dependencies=[requires("products.read")])
async def list_products(
    user: CurrentUser,
    rpc: Rpc,
    active: bool | None = None,
    category: str | None = Query(None, max_length=100),
    q: str | None = Query(None, max_length=100, description="part of the name or SKU"),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return await rpc.call("sales", "list_products", principal=user.principal, active=active,
                          category=category, q=q, cursor=cursor, limit=limit)


@router.get("/{product_id}", response_model=ProductPublic, summary="Get a product",
            dependencies=[requires("products.read")])
async def get_product(product_id: ProductId, user: CurrentUser, rpc: Rpc) -> Any:
    return await rpc.call("sales", "get_product", principal=user.principal,
                          product_id=product_id)


@router.patch("/{product_id}", response_model=ProductPublic, summary="Update a product",
              dependencies=[requires("products.manage")])
async def update_product(product_id: ProductId, body: ProductUpdate, user: CurrentUser,
                         rpc: Rpc) -> Any:
    """Name, unit, list price, category, active; the SKU never changes."""
    return await rpc.call("sales", "update_product", principal=user.principal,
                          product_id=product_id,
                          data=body.model_dump(mode="json", exclude_unset=True))
