"""The analytics service (分析): thin Nameko entrypoints over ``handlers``.

One reliable consumer takes every service's events from one durable queue,
logs each event once and applies its projection in the same transaction.
"""
from __future__ import annotations

from pathlib import Path

from crmkit.events import consumes
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.analytics import events, handlers
from services.analytics.metrics import observe_lag
from services.analytics.models import Base


class AnalyticsService(ServiceBase):
    name = "analytics"
    db = Database(Base.metadata, Path(__file__).parent / "migrations")

    @rpc
    def funnel(self, pipeline_id=None, owner_id=None, team_id=None, start=None, end=None):
        with self.db.unit() as uow:
            return handlers.funnel(uow, self.principal, pipeline_id, owner_id, team_id,
                                   start, end)

    @rpc
    def activity(self, cursor=None, limit=None):
        with self.db.unit() as uow:
            return handlers.activity(uow, self.principal, cursor, limit)

    @rpc
    def rebuild_projections(self):
        with self.db.unit() as uow:
            return handlers.rebuild_projections(uow, self.principal)

    @consumes(events.QUEUE, events.BINDINGS)
    def on_event(self, body):
        event = handlers.parse_event(body)
        applied = False
        with self.db.unit() as uow:
            if uow.first_delivery({"id": event.id, "type": event.type}, events.CONSUMER):
                handlers.record_event(uow, event)
                applied = True
        if applied:
            observe_lag(event)
