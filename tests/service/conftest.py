"""Service tier: one Nameko service at a time, on the REAL RabbitMQ, with its real store.

Run with ``nameko test tests/service`` (eventlet monkey-patched, as in production). Nameko's
pytest plugin gives each test its own RabbitMQ vhost (``rabbit_config``, through the
management API) and ``container_factory`` starts the service under test in-process. What is
outside the service's bounded context (other services) is played by publishing their events
to the broker; what is inside (its database, the broker) is real.
"""
from __future__ import annotations

import json

import kombu
import pytest

from crmkit.config import ServiceSettings
from tests.support import publish_event  # noqa: F401 - re-exported for the service tests


@pytest.fixture
def service_config(rabbit_config, tmp_path):
    """Build a container config for ``service`` on a fresh SQLite store (or ``database_url``)."""

    def make(service: str, **overrides) -> dict:
        overrides.setdefault("database_url", f"sqlite:///{tmp_path}/{service}.db")
        overrides.setdefault("metrics_port", 0)
        settings = ServiceSettings.from_env(service, amqp_uri=rabbit_config["AMQP_URI"],
                                            **overrides)
        return {**rabbit_config, **settings.nameko_config()}

    return make


def principal(user_id: str, role: str = "sales", visible: list[str] | None = "own",
              team_id: str | None = None) -> dict:
    """Context data carrying a principal, as the gateway sends it."""
    if visible == "own":
        visible = [user_id]
    return {"principal": json.dumps({"user_id": user_id, "username": user_id, "role": role,
                                     "team_id": team_id, "data_scope": "own",
                                     "visible_user_ids": visible})}


class EventTap:
    """A queue bound to a service's events exchange, to see what really reached the broker."""

    def __init__(self, amqp_uri: str, source: str, pattern: str = "#"):
        self.conn = kombu.Connection(amqp_uri)
        exchange = kombu.Exchange(f"{source}.events", type="topic", durable=True)
        self.queue = kombu.Queue(f"tap.{source}", exchange, routing_key=pattern,
                                 auto_delete=False)(self.conn.default_channel)
        self.queue.declare()

    def wait_for(self, event_type: str, timeout: float = 10.0) -> dict:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.queue.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            body = json.loads(message.body)
            if body["type"] == event_type:
                return body
        raise AssertionError(f"no {event_type} event within {timeout}s")

    def close(self):
        self.conn.release()

