"""Declare every service's event queues before any service publishes an event.

A topic exchange drops a message no queue is bound to. A queue exists once its consumer has
started, so on the very first start of a deployment (a fresh vhost) an event published
before its consumer's service had started was lost — sales announces its default pipeline
from its first migration, and analytics, started a moment later, never saw it.

``declare(classes, config)`` builds each service class's event entrypoints exactly as their
containers will (same queue names, bindings and arguments: the entrypoints' own code builds
them) and declares their exchanges, queues, bindings, retry and dead-letter queues. The
service runner calls it for every service of the platform before starting its own container,
so whichever service starts first, every queue exists before its outbox relay publishes.
Declarations are idempotent; later starts only confirm what exists.
"""
from __future__ import annotations

import logging

import kombu
from nameko.containers import ServiceContainer
from nameko.messaging import Consumer

log = logging.getLogger(__name__)


def event_queues(service_cls, config: dict) -> list[kombu.Queue]:
    """The queues ``service_cls``'s consumers and event handlers will consume from."""
    container = ServiceContainer(service_cls, config)
    queues = []
    for entrypoint in container.entrypoints:
        if not isinstance(entrypoint, Consumer):
            continue
        if getattr(entrypoint, "queue", None) is None:
            entrypoint.setup()    # Nameko's event handlers build their queue in setup()
        elif hasattr(entrypoint, "_setup_retry"):
            entrypoint._setup_retry(entrypoint.queue.name)   # retry and dead-letter queues
        queues.append(entrypoint.queue)
    return queues


def declare(classes, config: dict) -> int:
    """Declare the event queues (with their exchanges and bindings) of every class; returns
    how many queues were declared."""
    queues = [queue for cls in classes for queue in event_queues(cls, config)]
    with kombu.Connection(config["AMQP_URI"]) as connection:
        channel = connection.default_channel
        for queue in queues:
            queue(channel).declare()
    log.info("event topology declared", extra={"queues": len(queues)})
    return len(queues)
