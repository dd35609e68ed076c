"""Gateway configuration: one pydantic-settings class, read from environment variables.

Defaults need nothing but a local RabbitMQ and Redis (the identity store is a SQLite file
under ``var/``). In production (``CRM_ENV=production``) the development JWT secret is refused.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
SERVICES = ("leads", "customers", "sales", "service_desk", "analytics")


class Settings(BaseSettings):
    """Every field is read from the environment variable of the same name, upper-cased."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    crm_env: str = Field("development", description="development | test | production")
    gateway_database_url: str = Field(
        f"sqlite:///{REPO_ROOT / 'var' / 'gateway.db'}",
        description="Identity + notification store; relative SQLite paths are relative to the "
                    "repo root. PostgreSQL: postgresql+psycopg2://user@host/db",
    )
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    access_token_minutes: int = Field(30, ge=1, le=24 * 60)
    rpc_timeout: float = Field(10.0, gt=0, description="seconds an RPC call may take")
    rpc_exchange: str = "nameko-rpc"
    lead_create_batch: int = Field(
        100, ge=1, le=500, description="most POST /leads carried by one coalesced "
                                        "leads.create_leads call (gateway.coalesce)")
    lead_create_in_flight: int = Field(
        2, ge=1, le=64, description="coalesced leads.create_leads calls out at once; "
                                    "requests beyond wait for the next call (fewer, bigger "
                                    "batches cost less CPU per create: docs/benchmarks.md)")
    lead_import_batch: int = Field(
        500, ge=1, le=2000, description="CSV rows per leads.import_rows call (POST "
                                        "/leads/import). Each row locks up to 3 duplicate "
                                        "keys in its batch's transaction: PostgreSQL's lock "
                                        "table (max_locks_per_transaction × max_connections, "
                                        "6,400 by default) bounds it")
    rpc_probe_after: float = Field(
        1.0, gt=0, description="seconds without a reply after which the gateway checks that "
                               "the service still has a running replica (503 if not)")
    rpc_services: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(SERVICES),
        description="services /readyz pings (comma separated in the environment)",
    )
    ready_timeout: float = Field(2.0, gt=0, description="seconds each /readyz check may take")
    crm_admin_user: str | None = None
    crm_admin_password: SecretStr | None = None
    gateway_port: int = 8000
    gateway_access_log: bool = Field(True, description="one JSON log line per request")
    principal_cache_seconds: float = Field(5.0, ge=0)
    amqp_reconnect_seconds: float = Field(2.0, gt=0)
    amqp_queue_type: Literal["classic", "quorum"] = "classic"
    notifications_enabled: bool = True
    notifications_queue: str = "gateway.notifications"
    notifications_max_retries: int = Field(3, ge=0)
    notifications_retry_delay_ms: int = Field(2000, ge=0)
    notifications_prefetch: int = Field(32, ge=1)
    # -- the 360° view cache (gateway.views, docs/operations.md) ----------------------------
    view_cache_enabled: bool = Field(
        True, description="serve GET /customers/{id}/overview from Redis while nothing "
                          "changed; off: every view is assembled (invalidation still runs)")
    view_cache_ttl_seconds: int = Field(
        60, ge=1, le=3600, description="longest a cached view lives: the bound on staleness "
                                       "for what no event reports")
    view_cache_settle_seconds: float = Field(
        2.0, ge=0, le=60, description="an event's customer is invalidated again this long "
                                      "after the event, once other consumers applied it")
    view_cache_redis_timeout: float = Field(
        1.0, gt=0, le=5, description="seconds a cache read or write may take before the "
                                     "view is computed without it")
    view_cache_queue: str = "gateway.views"
    # -- request security (gateway.ratelimit, gateway.idempotency, docs/security.md) --------
    rate_limit_enabled: bool = Field(True, description="token bucket per user / API key / IP")
    rate_limit_per_minute: int = Field(1200, ge=1, description="requests per caller per minute")
    redis_request_timeout: float = Field(
        0.5, gt=0, le=10, description="seconds a request waits for Redis in the rate limit, "
                                      "the login throttle and the idempotency guard before "
                                      "treating it as down")
    login_max_failures: int = Field(10, ge=1, description="failed logins per username per "
                                                           "window before 429")
    login_max_failures_per_ip: int = Field(100, ge=1, description="failed logins per client IP "
                                                                  "per window before 429")
    login_failure_window_seconds: int = Field(300, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="largest request body")
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024,
                                  description="largest body of an upload route (lead import)")
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=60)
    idempotency_lock_seconds: int = Field(
        120, ge=1, description="how long an in-flight request holds its Idempotency-Key")
    webhooks_enabled: bool = True
    webhooks_queue: str = "gateway.webhooks"
    webhook_timeout: float = Field(5.0, gt=0, description="seconds a receiver may take")
    webhook_max_attempts: int = Field(6, ge=1, description="attempts before status dead")
    webhook_backoff_seconds: float = Field(
        10.0, gt=0, description="first retry delay; doubles per attempt (10 s, 20 s, 40 s …)")
    webhook_concurrency: int = Field(8, ge=1, description="deliveries sent at once")
    webhook_poll_seconds: float = Field(1.0, gt=0, description="how often due retries are "
                                                               "looked for")
    api_key_touch_seconds: int = Field(
        60, ge=1, description="last_used_at and the key-use audit entry are written at most "
                              "once per key in this many seconds")

    @field_validator("rpc_services", mode="before")
    @classmethod
    def _split_services(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("gateway_database_url")
    @classmethod
    def _absolute_sqlite_path(cls, value: str) -> str:
        url = make_url(value)
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            if not os.path.isabs(url.database):
                url = url.set(database=str(REPO_ROOT / url.database))
            return url.render_as_string(hide_password=False)
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.crm_env.lower() == "production":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET or len(secret) < 32:
                raise ValueError(
                    "JWT_SECRET must be set to a random value of at least 32 characters "
                    "when CRM_ENV=production"
                )
        return self

    @property
    def notifications_dlq(self) -> str:
        return f"{self.notifications_queue}.dlq"

    @property
    def notifications_retry_queue(self) -> str:
        return f"{self.notifications_queue}.retry"


@lru_cache
def get_settings() -> Settings:
    return Settings()
