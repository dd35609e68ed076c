"""Run one service process: ``python -m crmkit.runner services.leads.service:LeadsService``.

Applies the eventlet monkey patch first (Nameko needs it), reads the settings
from the environment, sets up JSON logging, starts the container (which
migrates the store and starts the outbox relay) and stops cleanly on SIGINT
or SIGTERM, finishing the workers in flight.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must run before anything imports socket/threading

import importlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from crmkit import heap, topology  # noqa: E402
from crmkit.config import ServiceSettings  # noqa: E402
from crmkit.logging import setup_logging  # noqa: E402

log = logging.getLogger("crmkit.runner")


def load(path: str):
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def declare_topology(config: dict) -> None:
    """Every service's event queues, before this one can publish (``crmkit.topology``).
    A broker that is not there yet is this container's problem too: it will wait for it."""
    from services import SERVICES

    try:
        topology.declare([load(path) for path in SERVICES.values()], config)
    except Exception as exc:  # noqa: BLE001 - the container's own start reports the broker
        log.warning("event topology not declared", extra={"error": repr(exc)[:200]})


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m crmkit.runner package.module:ServiceClass", file=sys.stderr)
        return 2
    service_cls = load(argv[1])
    settings = ServiceSettings.from_env(service_cls.name)
    setup_logging(service_cls.name)
    config = settings.nameko_config()
    declare_topology(config)
    runner = ServiceRunner(config)
    runner.add_service(service_cls)

    def shutdown(signum, _frame):
        log.info("stopping", extra={"signal": signum})
        eventlet.spawn(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    heap.settle()
    if settings.nice:
        os.nice(settings.nice)
    log.info("service started", extra={"metrics_port": settings.metrics_port,
                                       "database": settings.database_url.split("@")[-1],
                                       "max_workers": settings.max_workers,
                                       "nice": settings.nice})
    try:
        runner.wait()
    except Exception:  # noqa: BLE001
        log.exception("service crashed")
        runner.kill()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
