"""The leads service (线索 / 公海池): thin Nameko entrypoints over ``handlers``."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import eventlet
import sqlalchemy as sa
from nameko.exceptions import serialize
from nameko.timer import timer

from crmkit.errors import DomainError
from crmkit.events import handles
from crmkit.gauges import BusinessGauges
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.leads import campaigns, events, handlers, imports, scoring
from services.leads.domain import rules
from services.leads.models import Base, Lead

log = logging.getLogger(__name__)

#: seconds between two runs of the return job (every replica runs it; they do not collide)
RETURN_JOB_INTERVAL = float(os.environ.get("LEADS_RETURN_JOB_INTERVAL", "300"))


class LeadsService(ServiceBase):
    name = "leads"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")
    gauges = BusinessGauges({
        "crm_leads_in_pool": ("Open leads without an owner (公海池)", lambda: sa.select(
            sa.func.count()).select_from(Lead).where(Lead.owner_id.is_(None),
                                                      Lead.status.not_in(rules.CLOSED))),
    })

    @rpc
    def create_lead(self, data):
        with self.db.unit() as uow:
            return handlers.create_lead(uow, self.principal, data)

    @rpc
    def create_leads(self, items):
        """Concurrent ``POST /leads`` coalesced by the gateway into one call (docs/rpc.md).

        ``items``: ``[{"principal": {...}, "correlation_id": "...", "data": {...}}]``, each
        the caller and body of one request; answers, in order, ``{"result": lead}`` or
        ``{"error": <Nameko's serialised error>}``, what that request alone would have got.
        Only the platform calls it (no principal of its own): the callers travel in the items.
        """
        self.principal.require_role("system")
        batch = handlers.create_batch(items)
        try:
            with self.db.unit() as uow:
                answers = handlers.create_leads(uow, batch)
        except DomainError:
            raise                       # the whole unit failed (database down: 503 for all)
        except Exception:               # noqa: BLE001 - never let one item fail the others
            log.exception("batch of %d creates failed; creating them one by one", len(batch))
            answers = []
            for item in batch:
                try:
                    with self.db.unit() as uow:
                        answers.extend(handlers.create_leads(uow, [item]))
                except DomainError as exc:
                    answers.append(exc)
        return [{"error": serialize(a)} if isinstance(a, DomainError) else {"result": a}
                for a in answers]

    @rpc
    def list_leads(self, scope="all", status=None, source=None, owner_id=None, q=None,
                   cursor=None, limit=None, pool=None, campaign_id=None, sort=None):
        with self.db.unit() as uow:
            return handlers.list_leads(uow, self.principal, scope, status, source, owner_id,
                                       q, cursor, limit, pool, campaign_id, sort)

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
    def transfer_lead(self, lead_id, data):
        with self.db.unit() as uow:
            return handlers.transfer_lead(uow, self.principal, lead_id, data)

    @rpc
    def lock_lead(self, lead_id, reason=None):
        with self.db.unit() as uow:
            return handlers.set_lock(uow, self.principal, lead_id, True, reason)

    @rpc
    def unlock_lead(self, lead_id, reason=None):
        with self.db.unit() as uow:
            return handlers.set_lock(uow, self.principal, lead_id, False, reason)

    @rpc
    def add_follow_up(self, lead_id, data):
        with self.db.unit() as uow:
            return handlers.add_follow_up(uow, self.principal, lead_id, data)

    @rpc
    def convert_lead(self, lead_id):
        with self.db.unit() as uow:
            return handlers.convert_lead(uow, self.principal, lead_id)

    @rpc
    def list_lead_actions(self, lead_id, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.list_actions(uow, self.principal, lead_id, cursor, limit)

    @rpc
    def import_rows(self, header, rows, start_row=2, pool="default", final=True):
        with self.db.unit() as uow:
            return imports.import_rows(uow, self.principal, header, rows, start_row, pool,
                                       final)

    @rpc
    def create_campaign(self, data):
        with self.db.unit() as uow:
            return campaigns.create_campaign(uow, self.principal, data)

    @rpc
    def list_campaigns(self, channel=None, active_on=None, owner_id=None, q=None, cursor=None,
                       limit=None):
        with self.db.unit() as uow:
            return campaigns.list_campaigns(uow, self.principal, channel, active_on, owner_id,
                                            q, cursor, limit)

    @rpc
    def get_campaign(self, campaign_id):
        with self.db.unit() as uow:
            return campaigns.get_campaign(uow, self.principal, campaign_id)

    @rpc
    def update_campaign(self, campaign_id, data):
        with self.db.unit() as uow:
            return campaigns.update_campaign(uow, self.principal, campaign_id, data)

    @rpc
    def list_pools(self):
        with self.db.unit() as uow:
            return handlers.list_pools(uow, self.principal)

    @rpc
    def get_pool(self, pool):
        with self.db.unit() as uow:
            return handlers.get_pool(uow, self.principal, pool)

    @rpc
    def create_pool(self, data):
        with self.db.unit() as uow:
            return handlers.create_pool(uow, self.principal, data)

    @rpc
    def change_pool_members(self, pool, add=None, remove=None):
        with self.db.unit() as uow:
            return handlers.change_members(uow, self.principal, pool, add or [], remove or [])

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

    @rpc
    def run_return_job(self, pool=None):
        """Operator trigger (admins): run the return job now, for one pool or all."""
        self.principal.require_role("admin")
        if pool is not None:
            with self.db.unit() as uow:
                handlers.pool_rules(uow.session, pool)  # unknown pool -> 404
        return handlers.run_return_job(self.db.unit, pool)

    @timer(interval=RETURN_JOB_INTERVAL)
    def return_job(self):
        """Every replica ticks; conditional UPDATEs make each lead move (and warn) once."""
        return handlers.run_return_job(self.db.unit)

    @handles(*scoring.MODEL_PUBLISHED)
    def on_lead_model_published(self, event):
        """A newer conversion model from analytics: keep it, then rescore the open leads —
        twice: the other replicas may still score a create with the model they looked up
        up to ``NEWEST_TTL_SECONDS`` ago, and a lead they write meanwhile would otherwise
        wait for the ``rescore_leads`` timer (a minute)."""
        with self.db.unit() as uow:
            if uow.first_delivery(event, "leads.on_lead_model_published"):
                scoring.store_model(uow.session, event.get("data") or {})
        self._rescore()
        eventlet.sleep(scoring.NEWEST_TTL_SECONDS + 1.0)
        self._rescore()

    @timer(interval=scoring.RESCORE_INTERVAL)
    def rescore_leads(self):
        """Finishes what a model's arrival started (after a crash) and scores imported
        leads; every replica ticks, batches skip each other's rows."""
        return self._rescore()

    def _rescore(self) -> int:
        done = 0
        while True:
            with self.db.unit() as uow:
                n = scoring.rescore_batch(uow.session)
            done += n
            if n < scoring.BATCH:
                return done

    @handles(*events.CUSTOMER_CREATED)
    def on_customer_created(self, event):
        with self.db.unit() as uow:
            if uow.first_delivery(event, "leads.on_customer_created"):
                handlers.link_customer(uow, event)
