"""Small helpers the test tiers share (no fixtures here; each tier's conftest has those)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import kombu


def waited(check: Callable[[], Any], timeout: float = 10.0,
           interval: float = 0.05) -> tuple[Any, float]:
    """Poll ``check`` until it returns something truthy; return (that value, seconds waited)."""
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; return that value."""
    return waited(check, timeout, interval)[0]


def publish_event(amqp_uri: str, envelope: dict) -> None:
    """Publish an event exactly as a service's outbox relay does."""
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        exchange = kombu.Exchange(f"{envelope['source']}.events", type="topic", durable=True)
        conn.Producer().publish(json.dumps(envelope), exchange=exchange,
                                routing_key=envelope["type"], declare=[exchange],
                                content_type="application/json", content_encoding="utf-8",
                                headers={"nameko.correlation_id": envelope["correlation_id"]},
                                delivery_mode=2, serializer=None)
