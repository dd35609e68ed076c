"""Service configuration from environment variables.

Each service reads ``<NAME>_DATABASE_URL``, ``<NAME>_METRICS_PORT``,
``<NAME>_MAX_WORKERS`` and ``<NAME>_NICE``; every service shares ``AMQP_URI``, ``REDIS_URL``,
``CRM_TIMEZONE`` and the event retry settings. Defaults need nothing but a
local RabbitMQ: stores are SQLite files under ``var/``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("CRM_VAR_DIR", ROOT / "var"))

DEFAULT_METRICS_PORTS = {
    "leads": 9101, "customers": 9102, "sales": 9103, "service_desk": 9104, "analytics": 9105,
}

# CPU priority (niceness, added to the one the process started with) by service. Analytics
# applies events in the background and can wait a little (SPEC §7 gives the event lag 500 ms);
# on a machine it shares with the services that answer requests, it gives way to them.
DEFAULT_NICE = {"analytics": 5}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class ServiceSettings:
    service: str
    database_url: str
    amqp_uri: str
    metrics_port: int
    max_workers: int
    timezone: str
    event_max_attempts: int
    event_retry_delay_ms: int
    outbox_relay: bool
    outbox_batch: int
    nice: int = 0
    outbox_retain_days: int = 7

    @classmethod
    def from_env(cls, service: str, **overrides) -> ServiceSettings:
        prefix = service.upper()
        settings = cls(
            service=service,
            database_url=_env(f"{prefix}_DATABASE_URL", f"sqlite:///{VAR / (service + '.db')}"),
            amqp_uri=_env("AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672//"),
            metrics_port=int(_env(f"{prefix}_METRICS_PORT",
                                  str(DEFAULT_METRICS_PORTS.get(service, 0)))),
            max_workers=int(_env(f"{prefix}_MAX_WORKERS", "16")),
            timezone=_env("CRM_TIMEZONE", "Asia/Shanghai"),
            event_max_attempts=int(_env("EVENT_MAX_ATTEMPTS", "5")),
            event_retry_delay_ms=int(_env("EVENT_RETRY_DELAY_MS", "1000")),
            outbox_relay=_env("OUTBOX_RELAY", "on").lower() not in ("off", "0", "false", "no"),
            outbox_batch=int(_env("OUTBOX_BATCH", "500")),
            # a process may lower its own priority, not raise it
            nice=_whole(f"{prefix}_NICE",
                        _env(f"{prefix}_NICE", str(DEFAULT_NICE.get(service, 0))), 0, 19),
            # days the relayed events stay in outbox_sent
            outbox_retain_days=_whole("OUTBOX_RETAIN_DAYS", _env("OUTBOX_RETAIN_DAYS", "7"), 1),
        )
        return replace(settings, **overrides)

    def nameko_config(self) -> dict:
        """The dict a Nameko ServiceContainer/ServiceRunner is built with."""
        return {
            "AMQP_URI": self.amqp_uri,
            "max_workers": self.max_workers,
            "serializer": "json",
            "CRM": self,
        }


def _whole(name: str, text: str, low: int, high: int | None = None) -> int:
    """``text`` as a whole number from ``low`` (to ``high``), or ValueError naming ``name``."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"≥ {low}"
        raise ValueError(f"{name} must be a whole number {bounds}, not {text!r}")
    return value
