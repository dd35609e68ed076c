"""Product recommendations (商品推荐): what customers with a similar purchase history bought.

Item co-occurrence over ``contract.signed`` lines. A customer **holds** a product when it
signed lines of it and did not give all of it back: the quantities of refunded returns
(``return.requested`` lines, matched to the contract line they name, counted once the return
is ``return.refunded``) are subtracted; a merged customer's purchases are the survivor's.

For a customer holding the products H (and having ever bought E ⊇ H), each product Y not in
E is scored by its best rule X → Y with X in H:

    confidence(X → Y) = customers holding X and Y / customers holding X

Y is recommended when at least ``ANALYTICS_RECOMMEND_MIN_SUPPORT`` (2) customers hold both;
ordered by confidence, then by how many customers hold both, then by name; the reason names
X: "购买了X的客户中有34%也购买了" / "bought by 34% of customers who bought X".

The counts (``product_buyers``, ``product_pairs``) and each customer's holdings
(``customer_holdings``) are recomputed from the event log by the scoring job
(``scoring.refit``); a request reads a handful of indexed rows.
"""
from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.analytics.models import Base, Id

MIN_SUPPORT = int(os.environ.get("ANALYTICS_RECOMMEND_MIN_SUPPORT") or 2)
LIMIT = 5
EVENT_TYPES = ("contract.signed", "return.requested", "return.refunded", "customer.merged")


class ProductBuyers(Base):
    """How many customers hold each product."""

    __tablename__ = "product_buyers"

    product_key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    buyers: Mapped[int] = mapped_column(sa.Integer)


class ProductPair(Base):
    """How many customers hold both products (both directions are stored)."""

    __tablename__ = "product_pairs"

    x: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    y: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    customers: Mapped[int] = mapped_column(sa.Integer)


class CustomerHolding(Base):
    """What a customer bought: ``held`` unless all of it was refunded."""

    __tablename__ = "customer_holdings"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    product_key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    held: Mapped[bool] = mapped_column(sa.Boolean)


# -- pure ----------------------------------------------------------------------------------

def _qty(value) -> Decimal:
    try:
        q = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal(1)
    return q if q.is_finite() and q > 0 else Decimal(0)


def holdings(events, survivor: dict[str, str] | None = None) -> dict[str, dict[str, list]]:
    """customer → product key → [name, bought, returned], from (id, type, at, data) events
    of ``EVENT_TYPES`` in any order."""
    survivor = survivor or {}
    lines: dict[str, tuple[str, str]] = {}        # contract line → (customer, product)
    requested: dict[str, list[tuple[str, Decimal]]] = {}  # return → [(line, quantity)]
    refunded: set[str] = set()
    out: dict[str, dict[str, list]] = {}
    for _, etype, _, data in events:
        if etype == "contract.signed":
            cid = data.get("customer_id")
            for line in data.get("lines") or []:
                if not isinstance(line, dict) or not cid:
                    continue
                key = str(line.get("product_id") or line.get("sku") or line.get("name")
                          or "")[:100]
                if not key:
                    continue
                cust = survivor.get(str(cid), str(cid))
                slot = out.setdefault(cust, {}).setdefault(key, [None, Decimal(0), Decimal(0)])
                slot[0] = slot[0] or line.get("name")
                slot[1] += _qty(line.get("quantity", 1))
                if line.get("line_id"):
                    lines[str(line["line_id"])] = (cust, key)
        elif etype == "return.requested" and data.get("return_id"):
            requested[str(data["return_id"])] = [
                (str(ln.get("line_id")), _qty(ln.get("quantity", 1)))
                for ln in data.get("lines") or [] if isinstance(ln, dict)]
        elif etype == "return.refunded" and data.get("return_id"):
            refunded.add(str(data["return_id"]))
    for rid in sorted(refunded):
        for line_id, qty in requested.get(rid, []):
            if line_id in lines:
                cust, key = lines[line_id]
                out[cust][key][2] += qty
    return out


def held(products: dict[str, list]) -> set[str]:
    return {k for k, (_, bought, returned) in products.items() if bought > returned}


def cooccurrence(sets: dict[str, set[str]]) -> tuple[dict[str, int], dict[tuple, int]]:
    """(customers per product, customers per ordered pair of distinct products)."""
    buyers: dict[str, int] = {}
    pairs: dict[tuple, int] = {}
    for products in sets.values():
        for x in products:
            buyers[x] = buyers.get(x, 0) + 1
            for y in products:
                if x != y:
                    pairs[(x, y)] = pairs.get((x, y), 0) + 1
    return buyers, pairs


def recommend(held_now: set[str], ever: set[str], buyers: dict[str, int],
              pairs: dict[tuple, int], names: dict[str, str | None],
              limit: int = LIMIT, min_support: int = MIN_SUPPORT) -> list[dict]:
    """The best products for a customer holding ``held_now`` (never one in ``ever``)."""
    best: dict[str, tuple] = {}
    for (x, y), both in pairs.items():
        if x not in held_now or y in ever or both < min_support or not buyers.get(x):
            continue
        confidence = both / buyers[x]
        xname = names.get(x) or x
        candidate = (confidence, both, xname, x)
        current = best.get(y)
        if current is None or _better(candidate, current):
            best[y] = candidate
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], -kv[1][1],
                                                  names.get(kv[0]) or kv[0], kv[0]))
    out = []
    for y, (confidence, both, xname, x) in ranked[:limit]:
        percent = int(round(100 * confidence))
        out.append({"product": y, "name": names.get(y) or y, "because_of": x,
                    "because_of_name": xname, "confidence": round(confidence, 4),
                    "percent": percent, "customers": both, "of_customers": buyers[x],
                    "reason_zh": f"购买了{xname}的客户中有{percent}%也购买了",
                    "reason_en": f"bought by {percent}% of customers who bought {xname}"})
    return out


def _better(a: tuple, b: tuple) -> bool:
    """Rule ``a`` explains a product better than ``b``: higher confidence, then more
    customers, then the alphabetically first product (stable whatever the order)."""
    if (a[0], a[1]) != (b[0], b[1]):
        return (a[0], a[1]) > (b[0], b[1])
    return (a[2], a[3]) < (b[2], b[3])


# -- store ---------------------------------------------------------------------------------

def refresh(session, events, survivor: dict[str, str]) -> dict:
    """Recompute the three tables from the events (inside the scoring job's transaction)."""
    per_customer = holdings(events, survivor)
    sets = {c: held(p) for c, p in per_customer.items()}
    buyers, pairs = cooccurrence(sets)
    names = {k: n for p in per_customer.values() for k, (n, _, _) in p.items() if n}
    for model in (ProductPair, ProductBuyers, CustomerHolding):
        session.execute(sa.delete(model))
    rows = [{"customer_id": c, "product_key": k, "name": None if n is None else str(n)[:200],
             "held": k in sets[c]} for c, p in sorted(per_customer.items())
            for k, (n, _, _) in sorted(p.items())]
    if rows:
        session.execute(sa.insert(CustomerHolding), rows)
    if buyers:
        session.execute(sa.insert(ProductBuyers), [
            {"product_key": k, "name": None if names.get(k) is None else str(names[k])[:200],
             "buyers": n} for k, n in sorted(buyers.items())])
    if pairs:
        session.execute(sa.insert(ProductPair), [
            {"x": x, "y": y, "customers": n} for (x, y), n in sorted(pairs.items())])
    return {"customers": len(per_customer), "products": len(buyers), "pairs": len(pairs)}


def for_customer(session, customer_id: str, limit: int = LIMIT) -> list[dict]:
    owned = session.execute(sa.select(CustomerHolding).where(
        CustomerHolding.customer_id == customer_id)).scalars().all()
    held_now = {h.product_key for h in owned if h.held}
    if not held_now:
        return []
    ever = {h.product_key for h in owned}
    pairs = {(x, y): n for x, y, n in session.execute(sa.select(
        ProductPair.x, ProductPair.y, ProductPair.customers).where(
        ProductPair.x.in_(sorted(held_now)), ProductPair.customers >= MIN_SUPPORT))}
    keys = held_now | {y for _, y in pairs}
    buyers, names = {}, {}
    for key, name, n in session.execute(sa.select(
            ProductBuyers.product_key, ProductBuyers.name, ProductBuyers.buyers).where(
            ProductBuyers.product_key.in_(sorted(keys)))):
        buyers[key], names[key] = n, name
    return recommend(held_now, ever, buyers, pairs, names, limit)
