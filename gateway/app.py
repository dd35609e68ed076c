"""The gateway's composition root: ``create_app`` wires settings, store, broker and routers.

Run from the repo root: ``uvicorn gateway.app:app --port 8000``. On startup the lifespan
migrates the gateway store, creates the first administrator (``CRM_ADMIN_USER`` /
``CRM_ADMIN_PASSWORD``), connects Redis, and starts the RPC client and the notification
consumer and the 360° view cache's invalidation consumer (they connect in the background
and reconnect by themselves; ``/readyz`` tells when the RPC client is up).
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from redis.asyncio import Redis

from crmkit import heap
from crmkit.logging import setup_logging
from gateway.db import Database
from gateway.deps import document_security
from gateway.errors import install_error_handlers
from gateway.identity import PrincipalCache, ensure_admin
from gateway.middleware import RequestContextMiddleware
from gateway.notifications import NotificationConsumer
from gateway.request_security import SecurityMiddleware
from gateway.routers import (
    analytics,
    api_keys,
    audit,
    auth,
    billing,
    calendar,
    campaigns,
    contracts,
    customers,
    grants,
    health,
    invoices,
    lead_pools,
    leads,
    notifications,
    opportunities,
    payments,
    pipelines,
    products,
    quotes,
    receivables,
    returns,
    segments,
    teams,
    tickets,
    users,
    webhooks,
    work_orders,
)
from gateway.rpc import RpcClient
from gateway.settings import Settings, get_settings
from gateway.views import ViewCache, ViewEvents
from gateway.web import install_web
from gateway.webhooks import WebhookService

log = logging.getLogger(__name__)

DESCRIPTION = """
The only public HTTP entry of the CRM (客户关系管理) platform.

* Log in with `POST /api/v1/auth/token` (OAuth2 password flow), then send
  `Authorization: Bearer <access_token>`.
* Errors are always `{"error": {"code", "message", "details"}}`.
* Lists are keyset pages `{items, next_cursor}`; pass `next_cursor` back as `cursor`.
* Money is a decimal string (`"12800.00"`), times are ISO 8601 with an offset.
* Every response carries `X-Request-ID` (yours, or a new one), also found in the logs.
"""
TAGS = [
    {"name": "auth", "description": "Log in, who am I"},
    {"name": "users", "description": "Users (administrators)"},
    {"name": "teams", "description": "The tree of departments (administrators)"},
    {"name": "leads", "description": "Leads (线索) and the public pool (公海池)"},
    {"name": "lead pools", "description": "Public-pool rules"},
    {"name": "campaigns", "description": "Marketing campaigns (市场活动): channel, budget, "
                                         "period; leads carry their campaign"},
    {"name": "customers", "description": "Customers (客户信息库)"},
    {"name": "segments", "description": "Customer segments (客户分群): saved filters, live "
                                        "counts, members and CSV export"},
    {"name": "pipelines", "description": "Sales pipelines (自定义流程)"},
    {"name": "opportunities", "description": "Opportunities (商机)"},
    {"name": "products", "description": "The product catalogue (产品)"},
    {"name": "quotes", "description": "Quotes (方案报价)"},
    {"name": "contracts", "description": "Contracts/orders (合同订单), approval, receivable "
                                         "plans (回款计划)"},
    {"name": "receivables", "description": "Instalments and the ageing report"},
    {"name": "payments", "description": "Payments (回款) against instalments"},
    {"name": "invoices", "description": "Invoices (发票)"},
    {"name": "billing", "description": "Customers' billing details (开票信息)"},
    {"name": "tickets", "description": "Service tickets (客户反馈)"},
    {"name": "analytics", "description": "Funnel, activity, briefing, rankings, forecast, value"},
    {"name": "notifications", "description": "Your inbox (移动消息提醒), polled or streamed"},
    {"name": "permissions", "description": "Scope grants (查看权限), administrators"},
    {"name": "api keys", "description": "API keys of integrations (administrators)"},
    {"name": "audit", "description": "Security audit log (administrators)"},
    {"name": "webhooks", "description": "Signed event deliveries to integrations"},
    {"name": "operations", "description": "Health and metrics (outside /api/v1)"},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    database = Database(settings.gateway_database_url)
    await run_in_threadpool(database.migrate)
    if settings.crm_admin_user and settings.crm_admin_password:
        created = await run_in_threadpool(database.run, ensure_admin, settings.crm_admin_user,
                                          settings.crm_admin_password.get_secret_value())
        if created:
            log.info("Created the first administrator %r", settings.crm_admin_user)
    else:
        log.warning("CRM_ADMIN_USER / CRM_ADMIN_PASSWORD not set: no first administrator")

    redis = Redis.from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=2)
    rpc = RpcClient(settings.amqp_uri, timeout=settings.rpc_timeout,
                    exchange=settings.rpc_exchange,
                    reconnect_seconds=settings.amqp_reconnect_seconds,
                    probe_after=settings.rpc_probe_after)
    await rpc.start()
    consumer = NotificationConsumer(settings, database, redis)
    if settings.notifications_enabled:
        await consumer.start()
    views = ViewCache.from_settings(settings)
    view_events = ViewEvents(settings, views)
    await view_events.start()   # also with the cache off: see gateway.views

    app.state.database = database
    app.state.principals = PrincipalCache(database, settings.principal_cache_seconds)
    app.state.redis = redis
    app.state.rpc = rpc
    app.state.consumer = consumer
    app.state.views = views
    app.state.view_events = view_events
    app.state.webhooks = WebhookService(settings, database)
    if settings.webhooks_enabled:
        await app.state.webhooks.start()
    heap.settle()
    try:
        yield
    finally:
        await app.state.webhooks.close()
        await view_events.close()
        await views.close()
        await consumer.close()
        await rpc.close()
        await redis.aclose()
        database.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("gateway")
    app = FastAPI(title="CRM Gateway", version="1.0.0", description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware)  # inside RequestContext: errors carry the id
    app.add_middleware(RequestContextMiddleware, access_log=settings.gateway_access_log)

    for module in (auth, users, teams, leads, lead_pools, customers, pipelines, opportunities,
                   tickets, analytics, notifications, health):
        app.include_router(module.router)  # each router carries its /api/v1 prefix
    for module in (returns, work_orders):  # the service desk's returns and work orders
        app.include_router(module.router)
    app.include_router(customers.pool_router)
    app.include_router(segments.router)  # customer segments (客户分群)
    app.include_router(campaigns.router)  # marketing campaigns (市场活动)
    app.include_router(calendar.router)
    for module in (grants, api_keys, audit, webhooks):  # security (docs/security.md)
        app.include_router(module.router)
    for module in (products, quotes, contracts, receivables, payments, invoices, billing):
        app.include_router(module.router)  # sales documents (销售单据)
    install_web(app)  # the web console at /app/ (after every API route)
    document_security(app)
    return app


app = create_app()
