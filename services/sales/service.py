"""The sales service (销售单据): thin Nameko entrypoints over ``handlers`` and ``documents``."""
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
from services.sales import documents, events, handlers
from services.sales.models import Base, Contract, Instalment

# how often the overdue-instalment job runs (seconds); every replica runs it, each row once
OVERDUE_INTERVAL = float(os.environ.get("SALES_OVERDUE_INTERVAL", "300"))


class SalesService(ServiceBase):
    name = "sales"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")
    gauges = BusinessGauges({
        "crm_overdue_receivables": ("Receivable instalments overdue (逾期回款)", lambda: sa.select(
            sa.func.count()).select_from(Instalment).where(Instalment.status == "overdue")),
        "crm_pending_approvals": ("Contracts waiting for approval (待审批)", lambda: sa.select(
            sa.func.count()).select_from(Contract).where(Contract.status == "pending_approval")),
    })

    # -- pipelines and opportunities ---------------------------------------------------------

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
    def customer_sections(self, customer_id, sections=None):
        """The sales sections of the 360° view in one call (``crmkit.sections``)."""
        p = self.principal
        return read_sections(self.db, {
            "opportunities": lambda uow: handlers.list_opportunities(uow, p, customer_id, None,
                                                                     None, None),
            "quotes": lambda uow: documents.list_quotes(uow, p, customer_id, None, None, None,
                                                        None),
            "contracts": lambda uow: documents.list_contracts(uow, p, customer_id, None, None,
                                                              None),
            "receivable_plans": lambda uow: documents.list_receivable_plans(
                uow, p, customer_id, None, None, None, None),
            "payments": lambda uow: documents.list_payments(uow, p, customer_id, None, None,
                                                            None),
            "invoices": lambda uow: documents.list_invoices(uow, p, customer_id, None, None,
                                                            None),
        }, sections)

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

    # -- products ----------------------------------------------------------------------------

    @rpc
    def create_product(self, data):
        with self.db.unit() as uow:
            return documents.create_product(uow, self.principal, data)

    @rpc
    def list_products(self, active=None, category=None, q=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return documents.list_products(uow, self.principal, active, category, q, cursor,
                                           limit)

    @rpc
    def get_product(self, product_id):
        with self.db.unit() as uow:
            return documents.get_product(uow, self.principal, product_id)

    @rpc
    def update_product(self, product_id, data):
        with self.db.unit() as uow:
            return documents.update_product(uow, self.principal, product_id, data)

    # -- quotes ------------------------------------------------------------------------------

    @rpc
    def create_quote(self, data):
        with self.db.unit() as uow:
            return documents.create_quote(uow, self.principal, data)

    @rpc
    def get_quote(self, quote_id):
        with self.db.unit() as uow:
            return documents.get_quote(uow, self.principal, quote_id)

    @rpc
    def list_quotes(self, customer_id=None, status=None, opportunity_id=None, cursor=None,
                    limit=None):
        with self.db.unit() as uow:
            return documents.list_quotes(uow, self.principal, customer_id, status,
                                         opportunity_id, cursor, limit)

    @rpc
    def send_quote(self, quote_id):
        with self.db.unit() as uow:
            return documents.move_quote(uow, self.principal, quote_id, "send")

    @rpc
    def accept_quote(self, quote_id):
        with self.db.unit() as uow:
            return documents.move_quote(uow, self.principal, quote_id, "accept")

    @rpc
    def reject_quote(self, quote_id, reason=None):
        with self.db.unit() as uow:
            return documents.move_quote(uow, self.principal, quote_id, "reject", reason)

    # -- contracts ---------------------------------------------------------------------------

    @rpc
    def create_contract(self, data):
        with self.db.unit() as uow:
            return documents.create_contract(uow, self.principal, data)

    @rpc
    def get_contract(self, contract_id):
        with self.db.unit() as uow:
            return documents.get_contract(uow, self.principal, contract_id)

    @rpc
    def list_contracts(self, customer_id=None, status=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return documents.list_contracts(uow, self.principal, customer_id, status, cursor,
                                            limit)

    @rpc
    def submit_contract(self, contract_id, approvers=None):
        with self.db.unit() as uow:
            return documents.submit_contract(uow, self.principal, contract_id, approvers)

    @rpc
    def approve_contract(self, contract_id, comment=None):
        with self.db.unit() as uow:
            return documents.decide_contract(uow, self.principal, contract_id, "approve",
                                             comment)

    @rpc
    def reject_contract(self, contract_id, comment=None):
        with self.db.unit() as uow:
            return documents.decide_contract(uow, self.principal, contract_id, "reject",
                                             comment)

    @rpc
    def sign_contract(self, contract_id):
        with self.db.unit() as uow:
            return documents.move_contract(uow, self.principal, contract_id, "sign")

    @rpc
    def complete_contract(self, contract_id):
        with self.db.unit() as uow:
            return documents.move_contract(uow, self.principal, contract_id, "complete")

    @rpc
    def cancel_contract(self, contract_id, reason=None):
        with self.db.unit() as uow:
            return documents.move_contract(uow, self.principal, contract_id, "cancel", reason)

    # -- receivables, payments, invoices, billing --------------------------------------------

    @rpc
    def create_receivable_plan(self, contract_id, data):
        with self.db.unit() as uow:
            return documents.create_receivable_plan(uow, self.principal, contract_id, data)

    @rpc
    def get_receivable_plan(self, contract_id):
        with self.db.unit() as uow:
            return documents.get_receivable_plan(uow, self.principal, contract_id)

    @rpc
    def list_receivable_plans(self, customer_id=None, contract_id=None, status=None,
                              cursor=None, limit=None):
        with self.db.unit() as uow:
            return documents.list_receivable_plans(uow, self.principal, customer_id,
                                                   contract_id, status, cursor, limit)

    @rpc
    def record_payment(self, data):
        with self.db.unit() as uow:
            return documents.record_payment(uow, self.principal, data)

    @rpc
    def list_payments(self, customer_id=None, contract_id=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return documents.list_payments(uow, self.principal, customer_id, contract_id,
                                           cursor, limit)

    @rpc
    def receivables_ageing(self, owner_id=None, team_id=None):
        with self.db.unit() as uow:
            return documents.ageing(uow, self.principal, owner_id, team_id)

    @rpc
    def issue_invoice(self, data):
        with self.db.unit() as uow:
            return documents.issue_invoice(uow, self.principal, data)

    @rpc
    def list_invoices(self, customer_id=None, contract_id=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return documents.list_invoices(uow, self.principal, customer_id, contract_id,
                                           cursor, limit)

    @rpc
    def put_billing(self, customer_id, data):
        with self.db.unit() as uow:
            return documents.put_billing(uow, self.principal, customer_id, data)

    @rpc
    def get_billing(self, customer_id):
        with self.db.unit() as uow:
            return documents.get_billing(uow, self.principal, customer_id)

    # -- periodic jobs and events ------------------------------------------------------------

    @timer(interval=OVERDUE_INTERVAL)
    def mark_overdue_instalments(self):
        with self.db.unit() as uow:
            return documents.mark_overdue(uow)

    @handles(*events.CUSTOMER_MERGED)
    def on_customer_merged(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "sales.on_customer_merged"):
                documents.repoint_customer(uow, event)
