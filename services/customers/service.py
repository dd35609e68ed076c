"""The customers service (客户信息库): thin Nameko entrypoints over ``handlers``."""
from __future__ import annotations

from pathlib import Path

from crmkit.events import handles
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.customers import events, handlers
from services.customers.models import Base


class CustomersService(ServiceBase):
    name = "customers"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")

    @rpc
    def create_customer(self, data):
        with self.db.unit() as uow:
            return handlers.create_customer(uow, self.principal, data)

    @rpc
    def list_customers(self, scope="all", level=None, status=None, owner_id=None, q=None,
                       cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.list_customers(uow, self.principal, scope, level, status, owner_id,
                                           q, cursor, limit)

    @rpc
    def get_customer(self, customer_id):
        with self.db.unit() as uow:
            return handlers.get_customer(uow, self.principal, customer_id)

    @rpc
    def update_customer(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers.update_customer(uow, self.principal, customer_id, data)

    @handles(*events.LEAD_CONVERTED)
    def on_lead_converted(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "customers.on_lead_converted"):
                handlers.create_from_lead(uow, event)
