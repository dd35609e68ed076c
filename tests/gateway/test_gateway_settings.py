"""Unit tests of the gateway settings (read from the environment)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import DEV_JWT_SECRET, REPO_ROOT, SERVICES, Settings


@pytest.fixture
def env(monkeypatch):
    for name in ("CRM_ENV", "JWT_SECRET", "GATEWAY_DATABASE_URL", "RPC_SERVICES", "RPC_TIMEOUT",
                 "AMQP_URI", "REDIS_URL", "ACCESS_TOKEN_MINUTES", "GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_need_only_local_infrastructure(env):
    settings = Settings()
    assert settings.gateway_database_url == f"sqlite:///{REPO_ROOT / 'var' / 'gateway.db'}"
    assert settings.amqp_uri == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.access_token_minutes, settings.rpc_timeout, settings.gateway_port) == (
        30, 10.0, 8000)
    assert settings.rpc_services == list(SERVICES)
    assert settings.notifications_queue == "gateway.notifications"
    assert settings.notifications_dlq == "gateway.notifications.dlq"


def test_environment_overrides(env):
    env.setenv("GATEWAY_DATABASE_URL", "sqlite:///var/other.db")
    env.setenv("RPC_SERVICES", "leads, customers")
    env.setenv("RPC_TIMEOUT", "2.5")
    settings = Settings()
    assert settings.gateway_database_url == f"sqlite:///{REPO_ROOT / 'var' / 'other.db'}"
    assert settings.rpc_services == ["leads", "customers"]
    assert settings.rpc_timeout == 2.5
    env.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg2://crm:s3cret@db/gateway")
    assert Settings().gateway_database_url == "postgresql+psycopg2://crm:s3cret@db/gateway"


def test_production_refuses_the_development_secret(env):
    env.setenv("CRM_ENV", "production")
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings()
    env.setenv("JWT_SECRET", DEV_JWT_SECRET)
    with pytest.raises(ValidationError):
        Settings()
    env.setenv("JWT_SECRET", "too-short")
    with pytest.raises(ValidationError):
        Settings()
    env.setenv("JWT_SECRET", "q" * 48)
    assert Settings().jwt_secret.get_secret_value() == "q" * 48


def test_development_accepts_the_default_secret(env):
    env.setenv("CRM_ENV", "development")
    assert Settings().jwt_secret.get_secret_value() == DEV_JWT_SECRET
