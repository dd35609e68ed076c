"""The customers service (客户信息库): thin Nameko entrypoints over ``handlers``."""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from nameko.timer import Timer

from crmkit.events import handles
from crmkit.gauges import BusinessGauges
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.customers import (
    events,
    handlers,
    handlers_plans,
    handlers_pool,
    handlers_segments,
)
from services.customers.models import Base, Customer


class JobTimer(Timer):
    """Nameko's timer for the periodic jobs (reminders, return to the pool).

    Every ``CUSTOMERS_JOB_INTERVAL_SECONDS`` (env or container config; default 15). A container
    whose config says ``CUSTOMERS_JOBS: False`` never fires it by itself (tests that drive the
    jobs through ``entrypoint_hook``). The jobs are safe with several replicas running at once.
    """

    def setup(self):
        config = self.container.config
        self.interval = float(config.get("CUSTOMERS_JOB_INTERVAL_SECONDS")
                              or os.environ.get("CUSTOMERS_JOB_INTERVAL_SECONDS")
                              or self.interval)

    def start(self):
        if self.container.config.get("CUSTOMERS_JOBS", True) is not False:
            super().start()

    def stop(self):
        if self.gt is not None:
            super().stop()

    def kill(self):
        if self.gt is not None:
            super().kill()


job = JobTimer.decorator


class CustomersService(ServiceBase):
    name = "customers"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")
    gauges = BusinessGauges({
        "crm_customers_in_pool": ("Customers without an owner (客户公海)", lambda: sa.select(
            sa.func.count()).select_from(Customer).where(Customer.owner_id.is_(None))),
    })

    # -- customers -----------------------------------------------------------------------

    @rpc
    def create_customer(self, data):
        with self.db.unit() as uow:
            return handlers.create_customer(uow, self.principal, data)

    @rpc
    def list_customers(self, scope="all", level=None, status=None, owner_id=None, q=None,
                       cursor=None, limit=None, tag=None):
        with self.db.unit() as uow:
            return handlers.list_customers(uow, self.principal, scope, level, status, owner_id,
                                           q, cursor, limit, tag)

    @rpc
    def get_customer(self, customer_id):
        with self.db.unit() as uow:
            return handlers.get_customer(uow, self.principal, customer_id)

    @rpc
    def update_customer(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers.update_customer(uow, self.principal, customer_id, data)

    @rpc
    def customer_overview(self, customer_id):
        with self.db.unit() as uow:
            return handlers.customer_overview(uow, self.principal, customer_id)

    @rpc
    def list_actions(self, customer_id, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.list_actions(uow, self.principal, customer_id, cursor, limit)

    # -- contacts ------------------------------------------------------------------------

    @rpc
    def add_contact(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers.add_contact(uow, self.principal, customer_id, data)

    @rpc
    def list_contacts(self, customer_id):
        with self.db.unit() as uow:
            return handlers.list_contacts(uow, self.principal, customer_id)

    @rpc
    def set_primary_contact(self, customer_id, contact_id):
        with self.db.unit() as uow:
            return handlers.set_primary_contact(uow, self.principal, customer_id, contact_id)

    # -- follow-ups, plans, calendar -----------------------------------------------------

    @rpc
    def add_follow_up(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers_plans.add_follow_up(uow, self.principal, customer_id, data)

    @rpc
    def list_follow_ups(self, customer_id, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers_plans.list_follow_ups(uow, self.principal, customer_id, cursor, limit)

    @rpc
    def create_plan(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers_plans.create_plan(uow, self.principal, customer_id, data)

    @rpc
    def list_plans(self, customer_id, status=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers_plans.list_plans(uow, self.principal, customer_id, status, cursor,
                                             limit)

    @rpc
    def change_plan_status(self, customer_id, plan_id, data):
        with self.db.unit() as uow:
            return handlers_plans.change_plan_status(uow, self.principal, customer_id, plan_id,
                                                     data)

    @rpc
    def calendar(self, start, end):
        with self.db.unit() as uow:
            return handlers_plans.calendar(uow, self.principal, start, end)

    # -- level, credit limit -------------------------------------------------------------

    @rpc
    def change_level(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers.change_level(uow, self.principal, customer_id, data)

    @rpc
    def change_credit_limit(self, customer_id, data):
        with self.db.unit() as uow:
            return handlers.change_credit_limit(uow, self.principal, customer_id, data)

    @rpc
    def credit_limit_history(self, customer_id, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.credit_limit_history(uow, self.principal, customer_id, cursor,
                                                 limit)

    # -- the public pool (客户公海), merge -----------------------------------------------------

    @rpc
    def claim_customer(self, customer_id):
        with self.db.unit() as uow:
            return handlers_pool.claim_customer(uow, self.principal, customer_id)

    @rpc
    def release_customer(self, customer_id, reason=None):
        with self.db.unit() as uow:
            return handlers_pool.release_customer(uow, self.principal, customer_id, reason)

    @rpc
    def lock_customer(self, customer_id):
        with self.db.unit() as uow:
            return handlers_pool.lock_customer(uow, self.principal, customer_id)

    @rpc
    def unlock_customer(self, customer_id):
        with self.db.unit() as uow:
            return handlers_pool.unlock_customer(uow, self.principal, customer_id)

    @rpc
    def get_pool_rules(self):
        with self.db.unit() as uow:
            return handlers_pool.get_pool_rules(uow, self.principal)

    @rpc
    def set_pool_rules(self, rules):
        with self.db.unit() as uow:
            return handlers_pool.set_pool_rules(uow, self.principal, rules)

    @rpc
    def preview_pool_rules(self, rules=None):
        with self.db.unit() as uow:
            return handlers_pool.preview_pool_rules(uow, self.principal, rules)

    @rpc
    def merge_customers(self, customer_id, other_id):
        with self.db.unit() as uow:
            return handlers_pool.merge_customers(uow, self.principal, customer_id, other_id)

    # -- segments (客户分群) -------------------------------------------------------------------

    @rpc
    def create_segment(self, data):
        with self.db.unit() as uow:
            return handlers_segments.create_segment(uow, self.principal, data)

    @rpc
    def list_segments(self, cursor=None, limit=None, mine=False):
        with self.db.unit() as uow:
            return handlers_segments.list_segments(uow, self.principal, cursor, limit, mine)

    @rpc
    def get_segment(self, segment_id):
        with self.db.unit() as uow:
            return handlers_segments.get_segment(uow, self.principal, segment_id)

    @rpc
    def update_segment(self, segment_id, data):
        with self.db.unit() as uow:
            return handlers_segments.update_segment(uow, self.principal, segment_id, data)

    @rpc
    def delete_segment(self, segment_id):
        with self.db.unit() as uow:
            return handlers_segments.delete_segment(uow, self.principal, segment_id)

    @rpc
    def count_segments(self, segment_ids, team_members=None):
        with self.db.unit() as uow:
            return handlers_segments.count_segments(uow, self.principal, segment_ids,
                                                    team_members)

    @rpc
    def segment_members(self, segment_id, team_members=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers_segments.segment_members(uow, self.principal, segment_id,
                                                     team_members, cursor, limit)

    @rpc
    def preview_segment(self, filters=None, team_members=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers_segments.preview_segment(uow, self.principal, filters,
                                                     team_members, cursor, limit)

    # -- periodic jobs (safe with several replicas) --------------------------------------

    @job(interval=15)
    def remind_due_plans(self):
        with self.db.unit() as uow:
            return handlers_plans.remind_due_plans(uow)

    @job(interval=15)
    def return_to_pool(self):
        with self.db.unit() as uow:
            return handlers_pool.return_to_pool(uow)

    # -- events --------------------------------------------------------------------------

    @handles(*events.LEAD_CONVERTED)
    def on_lead_converted(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "customers.on_lead_converted"):
                handlers.create_from_lead(uow, event)

    @handles(*events.CONTRACT_SIGNED)
    def on_contract_signed(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "customers.on_contract_signed"):
                handlers.on_contract_signed(uow, event)

    @handles(*events.CHURN_RISK)
    def on_churn_risk(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "customers.on_churn_risk"):
                handlers.on_churn_risk(uow, event)

    @handles(*events.VALUE_CHANGED)
    def on_value_changed(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "customers.on_value_changed"):
                handlers_segments.on_value_changed(uow, event)
