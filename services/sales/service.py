"""The sales service (销售单据: 自定义流程, 商机): thin Nameko entrypoints over ``handlers``."""
from __future__ import annotations

from pathlib import Path

from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.sales import handlers
from services.sales.models import Base


class SalesService(ServiceBase):
    name = "sales"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")

    @rpc
    def list_pipelines(self):
        with self.db.unit() as uow:
            return handlers.list_pipelines(uow, self.principal)

    @rpc
    def create_pipeline(self, data):
        with self.db.unit() as uow:
            return handlers.create_pipeline(uow, self.principal, data)

    @rpc
    def create_opportunity(self, data):
        with self.db.unit() as uow:
            return handlers.create_opportunity(uow, self.principal, data)

    @rpc
    def list_opportunities(self, customer_id=None, status=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.list_opportunities(uow, self.principal, customer_id, status,
                                               cursor, limit)

    @rpc
    def get_opportunity(self, opportunity_id):
        with self.db.unit() as uow:
            return handlers.get_opportunity(uow, self.principal, opportunity_id)

    @rpc
    def change_stage(self, opportunity_id, stage=None, lost_reason=None):
        with self.db.unit() as uow:
            return handlers.change_stage(uow, self.principal, opportunity_id, stage,
                                         lost_reason)
