"""The leads service (线索 / 公海池): thin Nameko entrypoints over ``handlers``."""
from __future__ import annotations

from pathlib import Path

from crmkit.events import handles
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.leads import events, handlers
from services.leads.models import Base


class LeadsService(ServiceBase):
    name = "leads"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")

    @rpc
    def create_lead(self, data):
        with self.db.unit() as uow:
            return handlers.create_lead(uow, self.principal, data)

    @rpc
    def list_leads(self, scope="all", status=None, source=None, owner_id=None, q=None,
                   cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.list_leads(uow, self.principal, scope, status, source, owner_id,
                                       q, cursor, limit)

    @rpc
    def get_lead(self, lead_id):
        with self.db.unit() as uow:
            return handlers.get_lead(uow, self.principal, lead_id)

    @rpc
    def update_lead(self, lead_id, data):
        with self.db.unit() as uow:
            return handlers.update_lead(uow, self.principal, lead_id, data)

    @rpc
    def claim_lead(self, lead_id):
        with self.db.unit() as uow:
            return handlers.claim_lead(uow, self.principal, lead_id)

    @rpc
    def release_lead(self, lead_id, reason=None):
        with self.db.unit() as uow:
            return handlers.release_lead(uow, self.principal, lead_id, reason)

    @rpc
    def assign_lead(self, lead_id, owner_id=None):
        with self.db.unit() as uow:
            return handlers.assign_lead(uow, self.principal, lead_id, owner_id)

    @rpc
    def add_follow_up(self, lead_id, data):
        with self.db.unit() as uow:
            return handlers.add_follow_up(uow, self.principal, lead_id, data)

    @rpc
    def convert_lead(self, lead_id):
        with self.db.unit() as uow:
            return handlers.convert_lead(uow, self.principal, lead_id)

    @rpc
    def get_pool_rules(self, pool):
        with self.db.unit() as uow:
            return handlers.get_pool_rules(uow, self.principal, pool)

    @rpc
    def set_pool_rules(self, pool, rules):
        with self.db.unit() as uow:
            return handlers.set_pool_rules(uow, self.principal, pool, rules)

    @rpc
    def preview_pool_rules(self, pool, rules=None):
        with self.db.unit() as uow:
            return handlers.preview_pool_rules(uow, self.principal, pool, rules)

    @handles(*events.CUSTOMER_CREATED)
    def on_customer_created(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "leads.on_customer_created"):
                handlers.link_customer(uow, event)
