"""The service desk (服务台: 客户反馈, 退货, 服务工单): thin Nameko entrypoints over the
handlers."""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from nameko.timer import timer

from crmkit.events import handles
from crmkit.gauges import BusinessGauges
from crmkit.sections import read_sections
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.service_desk import events, handlers, handlers_returns, handlers_work_orders
from services.service_desk.models import Base, Ticket

SLA_CHECK_SECONDS = float(os.environ.get("SLA_CHECK_SECONDS", "60"))


class ServiceDeskService(ServiceBase):
    name = "service_desk"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")
    gauges = BusinessGauges({
        "crm_open_tickets": ("Tickets not yet resolved (未解决工单)", lambda: sa.select(
            sa.func.count()).select_from(Ticket).where(Ticket.status.not_in(
                ("resolved", "closed")))),
    })

    # --- tickets -------------------------------------------------------------------------
    @rpc
    def create_ticket(self, data, candidates=None, manager_id=None, managers=None):
        with self.db.unit() as uow:
            return handlers.create_ticket(uow, self.principal, data, candidates, manager_id,
                                          managers)

    @rpc
    def customer_sections(self, customer_id, sections=None):
        """The service sections of the 360° view in one call (``crmkit.sections``)."""
        p = self.principal
        return read_sections(self.db, {
            "tickets": lambda uow: handlers.list_tickets(uow, p, customer_id, None, None, None,
                                                         None),
            "returns": lambda uow: handlers_returns.list_returns(uow, p, customer_id, None,
                                                                 None, None, None),
            "work_orders": lambda uow: handlers_work_orders.list_work_orders(
                uow, p, customer_id, None, None, None, None, None, None),
        }, sections)

    @rpc
    def list_tickets(self, customer_id=None, status=None, cursor=None, limit=None,
                     assignee_id=None):
        with self.db.unit() as uow:
            return handlers.list_tickets(uow, self.principal, customer_id, status, cursor,
                                         limit, assignee_id)

    @rpc
    def get_ticket(self, ticket_id):
        with self.db.unit() as uow:
            return handlers.get_ticket(uow, self.principal, ticket_id)

    @rpc
    def assign_ticket(self, ticket_id, assignee_id=None, candidates=None, manager_id=None,
                      managers=None):
        with self.db.unit() as uow:
            return handlers.assign_ticket(uow, self.principal, ticket_id, assignee_id,
                                          candidates, manager_id, managers)

    @rpc
    def add_comment(self, ticket_id, data):
        with self.db.unit() as uow:
            return handlers.add_comment(uow, self.principal, ticket_id, data)

    @rpc
    def list_comments(self, ticket_id, internal=None):
        with self.db.unit() as uow:
            return handlers.list_comments(uow, self.principal, ticket_id, internal)

    @rpc
    def start_ticket(self, ticket_id):
        return self._transition(ticket_id, "start")

    @rpc
    def wait_ticket(self, ticket_id):
        return self._transition(ticket_id, "wait")

    @rpc
    def resume_ticket(self, ticket_id):
        return self._transition(ticket_id, "resume")

    @rpc
    def resolve_ticket(self, ticket_id):
        return self._transition(ticket_id, "resolve")

    @rpc
    def close_ticket(self, ticket_id):
        return self._transition(ticket_id, "close")

    @rpc
    def reopen_ticket(self, ticket_id):
        return self._transition(ticket_id, "reopen")

    def _transition(self, ticket_id, action):
        with self.db.unit() as uow:
            return handlers.transition(uow, self.principal, ticket_id, action)

    @rpc
    def rate_ticket(self, ticket_id, data):
        with self.db.unit() as uow:
            return handlers.rate_ticket(uow, self.principal, ticket_id, data)

    # --- SLA -------------------------------------------------------------------------------
    @timer(interval=SLA_CHECK_SECONDS)
    def sla_tick(self):
        return handlers.check_sla(self.db.unit)

    @rpc
    def list_sla_policies(self):
        with self.db.unit() as uow:
            return handlers.list_sla_policies(uow, self.principal)

    @rpc
    def set_sla_policy(self, data):
        with self.db.unit() as uow:
            return handlers.set_sla_policy(uow, self.principal, data)

    @rpc
    def list_calendar_days(self, year=None):
        with self.db.unit() as uow:
            return handlers.list_calendar_days(uow, self.principal, year)

    @rpc
    def set_calendar_days(self, days):
        with self.db.unit() as uow:
            return handlers.set_calendar_days(uow, self.principal, days)

    @rpc
    def delete_calendar_day(self, day):
        with self.db.unit() as uow:
            return handlers.delete_calendar_day(uow, self.principal, day)

    # --- returns ---------------------------------------------------------------------------
    @rpc
    def create_return(self, data):
        with self.db.unit() as uow:
            return handlers_returns.create_return(uow, self.principal, data)

    @rpc
    def act_on_return(self, return_id, action, data=None):
        with self.db.unit() as uow:
            return handlers_returns.act_on_return(uow, self.principal, return_id, action, data)

    @rpc
    def get_return(self, return_id):
        with self.db.unit() as uow:
            return handlers_returns.get_return(uow, self.principal, return_id)

    @rpc
    def list_returns(self, customer_id=None, status=None, contract_id=None, cursor=None,
                     limit=None):
        with self.db.unit() as uow:
            return handlers_returns.list_returns(uow, self.principal, customer_id, status,
                                                 contract_id, cursor, limit)

    @handles(*events.CONTRACT_SIGNED)
    def on_contract_signed(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "service_desk.on_contract_signed"):
                handlers_returns.project_signed_contract(uow, event)

    # --- work orders -----------------------------------------------------------------------
    @rpc
    def create_work_order(self, data):
        with self.db.unit() as uow:
            return handlers_work_orders.create_work_order(uow, self.principal, data)

    @rpc
    def act_on_work_order(self, work_order_id, action, data=None):
        with self.db.unit() as uow:
            return handlers_work_orders.act_on_work_order(uow, self.principal, work_order_id,
                                                          action, data)

    @rpc
    def get_work_order(self, work_order_id):
        with self.db.unit() as uow:
            return handlers_work_orders.get_work_order(uow, self.principal, work_order_id)

    @rpc
    def list_work_orders(self, customer_id=None, assignee_id=None, start=None, end=None,
                         status=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers_work_orders.list_work_orders(uow, self.principal, customer_id,
                                                         assignee_id, start, end, status,
                                                         cursor, limit)

    @rpc
    def calendar(self, start, end):
        with self.db.unit() as uow:
            return handlers_work_orders.calendar(uow, self.principal, start, end)

    # --- other services' events --------------------------------------------------------------
    @handles(*events.CUSTOMER_MERGED)
    def on_customer_merged(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "service_desk.on_customer_merged"):
                handlers_work_orders.repoint_merged_customer(uow, event)
