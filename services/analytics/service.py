"""The analytics service (分析): thin Nameko entrypoints over ``handlers``.

One reliable consumer takes every service's events from one durable queue,
logs each event once and applies its projection in the same transaction.
"""
from __future__ import annotations

import os
from pathlib import Path

from nameko.timer import timer

from crmkit.events import consumes_batches
from crmkit.sections import read_sections
from crmkit.service import ServiceBase, rpc
from crmkit.uow import Database
from services.analytics import campaigns, events, handlers, insights, scoring, value_feed
from services.analytics.metrics import observe_lag
from services.analytics.models import Base

CHURN_SCAN_SECONDS = float(os.environ.get("ANALYTICS_CHURN_SCAN_SECONDS", "3600"))
# events applied per transaction at most, when they queue up (docs/operations.md)
EVENT_BATCH = int(os.environ.get("ANALYTICS_EVENT_BATCH", "100"))
# batches one replica applies at once (docs/operations.md)
EVENT_CONCURRENCY = int(os.environ.get("ANALYTICS_EVENT_CONCURRENCY", "2"))


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

    @rpc
    def briefing(self, period=None, date=None, scope=None):
        with self.db.unit() as uow:
            return insights.briefing(uow, self.principal, period, date, scope)

    @rpc
    def rankings(self, metric=None, period=None, date=None, limit=None, scope=None):
        with self.db.unit() as uow:
            return insights.rankings(uow, self.principal, metric, period, date, limit, scope)

    @rpc
    def series(self, metric=None, start=None, end=None, scope=None):
        with self.db.unit() as uow:
            return insights.series(uow, self.principal, metric, start, end, scope)

    @rpc
    def forecast(self, start=None, end=None, owner_id=None, pipeline_id=None):
        with self.db.unit() as uow:
            return insights.forecast(uow, self.principal, start, end, owner_id, pipeline_id)

    @rpc
    def customer_value(self, owner_id=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return insights.customer_value(uow, self.principal, owner_id, cursor, limit)

    @rpc
    def customer_sections(self, customer_id, sections=None):
        """The analytics sections of the 360° view in one call (``crmkit.sections``)."""
        p = self.principal
        return read_sections(self.db, {
            "profile": lambda uow: insights.customer_profile(uow, p, customer_id),
            "insights": lambda uow: scoring.customer_insights(uow, p, customer_id),
        }, sections)

    @rpc
    def customer_profile(self, customer_id):
        with self.db.unit() as uow:
            return insights.customer_profile(uow, self.principal, customer_id)

    @rpc
    def churn_risk(self, multiple=None, cursor=None, limit=None):
        with self.db.unit() as uow:
            return insights.churn_risk(uow, self.principal, multiple, cursor, limit)

    @rpc
    def campaign_report(self, start=None, end=None, channel=None):
        with self.db.unit() as uow:
            return campaigns.campaign_report(uow, self.principal, start, end, channel)

    @rpc
    def campaign_detail(self, campaign_id):
        with self.db.unit() as uow:
            return campaigns.campaign_detail(uow, self.principal, campaign_id)

    @timer(interval=CHURN_SCAN_SECONDS)
    def scan_churn(self):
        with self.db.unit() as uow:
            return insights.scan_churn(uow)

    @timer(interval=value_feed.INTERVAL_SECONDS)
    def feed_customer_values(self):
        with self.db.unit() as uow:
            return value_feed.feed_customer_values(uow)

    @rpc
    def customer_insights(self, customer_id):
        with self.db.unit() as uow:
            return scoring.customer_insights(uow, self.principal, customer_id)

    @rpc
    def scoring_models(self):
        with self.db.unit() as uow:
            return scoring.models(uow)

    @rpc
    def refit_scoring(self):
        with self.db.unit() as uow:
            return scoring.refit(uow, self.principal, force=True)

    @timer(interval=scoring.INTERVAL_SECONDS)
    def fit_scoring(self):
        with self.db.unit() as uow:
            return scoring.refit(uow, force=False)

    @consumes_batches(events.QUEUE, events.BINDINGS, batch_size=EVENT_BATCH,
                      concurrency=EVENT_CONCURRENCY)
    def on_events(self, bodies):
        """Every event of every service, applied a batch per transaction (see
        ``crmkit.events.consumes_batches``: one event at a time when the queue is quiet)."""
        batch = [handlers.parse_event(body) for body in bodies]
        with self.db.unit() as uow:
            applied = handlers.record_events(uow, batch)
        for event in applied:
            observe_lag(event)
