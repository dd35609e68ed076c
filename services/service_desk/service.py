"""The service desk (服务台: 客户反馈): thin Nameko entrypoints over ``handlers``."""
from __future__ import annotations

from pathlib import Path

from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.service_desk import handlers
from services.service_desk.models import Base


class ServiceDeskService(ServiceBase):
    name = "service_desk"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")

    @rpc
    def create_ticket(self, data):
        with self.db.unit() as uow:
            return handlers.create_ticket(uow, self.principal, data)

    @rpc
    def list_tickets(self, customer_id=None, status=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.list_tickets(uow, self.principal, customer_id, status, cursor,
                                         limit)

    @rpc
    def get_ticket(self, ticket_id):
        with self.db.unit() as uow:
            return handlers.get_ticket(uow, self.principal, ticket_id)
