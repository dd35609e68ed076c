"""``crmkit.events.consumes_batches`` on the real broker: batches form under load, every
event is handled exactly once, and a poison event is retried and dead-lettered alone."""
from __future__ import annotations

import eventlet
import kombu

from crmkit.events import consumes_batches, envelope
from crmkit.service import ServiceBase
from tests.support import eventually, publish_event

BATCHES: list[list[str]] = []      # ids per batch worker call, in call order
APPLIED: list[str] = []            # ids applied by a worker that succeeded


class BatchingService(ServiceBase):
    name = "batching"

    @consumes_batches("batching.events", [("probe", "probe.#")], batch_size=20,
                      concurrency=1)
    def on_events(self, bodies):
        ids = [body["id"] for body in bodies]
        BATCHES.append(ids)
        eventlet.sleep(0.05)               # a slow worker: what arrives meanwhile batches up
        if any(body["data"].get("poison") for body in bodies):
            raise RuntimeError("poison")
        APPLIED.extend(ids)


def _config(service_config):
    config = service_config("batching", event_max_attempts=2, event_retry_delay_ms=100)
    config["max_workers"] = 30
    return config


def _dlq_ids(amqp_uri: str) -> list[str]:
    import json

    ids = []
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue("batching.events.dlq")(conn.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            ids.append(json.loads(message.body)["id"])
    return ids


def test_events_batch_up_and_each_is_applied_once(container_factory, service_config,
                                                 rabbit_config):
    BATCHES.clear(), APPLIED.clear()
    container = container_factory(BatchingService, _config(service_config))
    container.start()
    sent = [envelope("probe.ping", {"n": i}, source="probe") for i in range(60)]
    for event in sent:
        publish_event(rabbit_config["AMQP_URI"], event)
    eventually(lambda: len(APPLIED) >= 60, timeout=20)
    assert sorted(APPLIED) == sorted(e["id"] for e in sent)          # each once, none lost
    assert max(len(batch) for batch in BATCHES) > 1                  # they did batch up
    assert all(len(batch) <= 20 for batch in BATCHES)
    assert len(BATCHES) < 60


def test_a_poison_event_fails_alone_and_the_rest_are_applied(container_factory,
                                                             service_config, rabbit_config):
    BATCHES.clear(), APPLIED.clear()
    container = container_factory(BatchingService, _config(service_config))
    container.start()
    sent = [envelope("probe.ping", {"n": i, "poison": i == 7}, source="probe")
            for i in range(30)]
    for event in sent:
        publish_event(rabbit_config["AMQP_URI"], event)
    good = sorted(e["id"] for e in sent if not e["data"]["poison"])
    eventually(lambda: sorted(APPLIED) == good, timeout=20)
    poison = sent[7]["id"]
    # retried once on its own, then parked: the others were never held back with it
    assert eventually(lambda: _dlq_ids(rabbit_config["AMQP_URI"]), timeout=20) == [poison]
    assert [b for b in BATCHES if b == [poison]], BATCHES           # it ran alone
    assert poison not in APPLIED


class SmallPoolService(ServiceBase):
    """Fewer workers than a batch holds: Nameko's prefetch (``max_workers``) must not cap it."""
    name = "small_pool"

    @consumes_batches("small_pool.events", [("probe", "probe.#")], batch_size=20,
                      concurrency=1)
    def on_events(self, bodies):
        BATCHES.append([body["id"] for body in bodies])
        eventlet.sleep(0.2)
        APPLIED.extend(body["id"] for body in bodies)


def test_a_batch_is_not_capped_by_the_worker_pool(container_factory, service_config,
                                                  rabbit_config):
    BATCHES.clear(), APPLIED.clear()
    config = service_config("small_pool")
    config["max_workers"] = 4
    container = container_factory(SmallPoolService, config)
    container.start()
    sent = [envelope("probe.ping", {"n": i}, source="probe") for i in range(80)]
    for event in sent:
        publish_event(rabbit_config["AMQP_URI"], event)
    eventually(lambda: len(APPLIED) >= 80, timeout=30)
    assert sorted(APPLIED) == sorted(e["id"] for e in sent)
    assert max(len(batch) for batch in BATCHES) == 20, [len(b) for b in BATCHES]
