"""Use cases of the customers service."""
from __future__ import annotations

import sqlalchemy as sa

from crmkit import timeutil
from crmkit.errors import NotFound
from crmkit.models import money
from crmkit.pagination import paginate
from crmkit.principal import Principal
from crmkit.scoping import list_scope, visible
from crmkit.text import normalize_company, normalize_email, normalize_phone
from crmkit.uow import UnitOfWork
from crmkit.validation import page_limit, parse
from services.customers import events
from services.customers.domain import rules
from services.customers.models import Contact, Customer
from services.customers.schemas import CustomerCreate, CustomerUpdate


def dump_customer(c: Customer) -> dict:
    return {
        "id": c.id, "name": c.name, "type": c.type, "industry": c.industry, "region": c.region,
        "address": c.address, "phone": c.phone, "email": c.email, "website": c.website,
        "source": c.source, "level": c.level, "status": c.status, "owner_id": c.owner_id,
        "team_id": c.team_id, "tags": list(c.tags or []), "credit_limit": money(c.credit_limit),
        "lead_id": c.lead_id, "last_contact_at": timeutil.iso(c.last_contact_at),
        "next_follow_up_at": timeutil.iso(c.next_follow_up_at), "created_by": c.created_by,
        "created_at": timeutil.iso(c.created_at), "updated_at": timeutil.iso(c.updated_at),
    }


def dump_contact(c: Contact) -> dict:
    return {"id": c.id, "customer_id": c.customer_id, "name": c.name, "title": c.title,
            "phone": c.phone, "email": c.email, "is_primary": c.is_primary,
            "created_at": timeutil.iso(c.created_at)}


def _visible(principal: Principal):
    """SQL condition: customers in the pool (客户公海) and those of visible owners."""
    return visible(principal, Customer.owner_id, pool=True)


def _load(uow: UnitOfWork, principal: Principal, customer_id: str, *, lock=False) -> Customer:
    query = sa.select(Customer).where(Customer.id == str(customer_id), _visible(principal))
    if lock:
        query = query.with_for_update()
    customer = uow.session.execute(query).scalar_one_or_none()
    if customer is None:
        raise NotFound("customer_not_found", "customer not found", {"customer_id": customer_id})
    return customer


def _normalized(c: Customer) -> None:
    c.name_norm = normalize_company(c.name)
    c.phone_norm = normalize_phone(c.phone)
    c.email_norm = normalize_email(c.email)


def _possible_duplicates(uow: UnitOfWork, c: Customer) -> list[dict]:
    matches = []
    for field, value in (("name", c.name_norm), ("phone", c.phone_norm), ("email", c.email_norm)):
        if not value:
            continue
        column = getattr(Customer, f"{field}_norm")
        for other in uow.session.execute(sa.select(Customer.id, Customer.name).where(
                column == value, Customer.id != c.id).limit(5)):
            matches.append({"id": other.id, "name": other.name, "matched_on": field})
    return matches


def _insert(uow: UnitOfWork, customer: Customer, contacts: list[dict]) -> Customer:
    _normalized(customer)
    uow.session.add(customer)
    uow.session.flush()
    for contact in contacts:
        uow.session.add(Contact(customer_id=customer.id, **contact))
    uow.emit(events.CUSTOMER_CREATED, events.customer_summary(customer))
    return customer


def create_customer(uow: UnitOfWork, principal: Principal, data: dict) -> dict:
    principal.require_role("admin", "manager", "sales")
    spec = parse(CustomerCreate, data)
    now = timeutil.now()
    customer = Customer(**spec.model_dump(), owner_id=principal.user_id,
                        team_id=principal.team_id, created_by=principal.user_id,
                        created_at=now, updated_at=now)
    _normalized(customer)
    duplicates = _possible_duplicates(uow, customer)
    _insert(uow, customer, [])
    return {**dump_customer(customer), "duplicates": duplicates}


def create_from_lead(uow: UnitOfWork, event: dict) -> Customer | None:
    """``lead.converted`` → the customer, once per lead however often the event arrives."""
    data = event["data"]
    if uow.session.execute(sa.select(Customer.id).where(
            Customer.lead_id == data["lead_id"])).first():
        return None
    now = timeutil.now()
    fields = rules.customer_from_lead(data)
    customer = Customer(**fields, created_by=event.get("actor_id"), created_at=now,
                        updated_at=now, last_contact_at=None)
    return _insert(uow, customer, [rules.primary_contact_from_lead(data)])


def list_customers(uow: UnitOfWork, principal: Principal, scope="all", level=None, status=None,
                   owner_id=None, q=None, cursor=None, limit=None) -> dict:
    query = sa.select(Customer).where(_visible(principal),
                                      list_scope(principal, scope, Customer.owner_id))
    if level:
        query = query.where(Customer.level == level)
    if status:
        query = query.where(Customer.status == status)
    if owner_id:
        query = query.where(Customer.owner_id == owner_id)
    if q:
        like = f"%{q.strip()}%"
        terms = [Customer.name.like(like), Customer.email_norm.like(like.lower())]
        phone = normalize_phone(q)
        if phone and len(phone) >= 3:
            terms.append(Customer.phone_norm.like(f"%{phone}%"))
        query = query.where(sa.or_(*terms))
    return paginate(uow.session, query, Customer.id, cursor, page_limit(limit), dump_customer)


def get_customer(uow: UnitOfWork, principal: Principal, customer_id: str) -> dict:
    customer = _load(uow, principal, customer_id)
    contacts = uow.session.execute(sa.select(Contact).where(
        Contact.customer_id == customer.id).order_by(Contact.id)).scalars()
    return {**dump_customer(customer), "contacts": [dump_contact(c) for c in contacts]}


def update_customer(uow: UnitOfWork, principal: Principal, customer_id: str, data: dict) -> dict:
    changes = parse(CustomerUpdate, data).model_dump(exclude_unset=True)
    customer = _load(uow, principal, customer_id, lock=True)
    if customer.owner_id != principal.user_id:
        principal.require_role("admin", "manager")
    before = {k: getattr(customer, k) for k in changes}
    for key, value in changes.items():
        setattr(customer, key, value)
    _normalized(customer)
    customer.updated_at = timeutil.now()
    uow.session.flush()
    changed = {k: {"from": before[k], "to": changes[k]} for k in changes if before[k] != changes[k]}
    if changed:
        uow.emit(events.CUSTOMER_UPDATED, {**events.customer_summary(customer),
                                           "changes": changed})
    return dump_customer(customer)
