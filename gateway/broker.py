"""One place that opens robust RabbitMQ connections for the gateway.

``aio_pika.RobustConnection`` reconnects by itself and restores its channels, exchanges,
queues, bindings and consumers. ``fail_fast=0`` makes the *first* connection keep retrying
too, so the gateway starts (and answers ``/healthz``) while the broker is still coming up.
"""
from __future__ import annotations

import aio_pika
from yarl import URL


def robust_connection(
    uri: str, *, name: str, reconnect_seconds: float
) -> aio_pika.RobustConnection:
    """A robust connection object, not yet connected: ``await conn.connect()`` to use it."""
    return aio_pika.RobustConnection(
        URL(uri),
        fail_fast="0",
        reconnect_interval=str(reconnect_seconds),
        client_properties={"connection_name": name},
    )
