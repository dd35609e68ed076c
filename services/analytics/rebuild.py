"""Rebuild every analytics read model from the event log, offline (``make analytics-rebuild``).

    python -m services.analytics.rebuild            # the store of ANALYTICS_DATABASE_URL

Runs the same use case as the ``rebuild_projections`` RPC (one transaction; on
PostgreSQL the log is locked against new rows meanwhile, so the running service's
consumer waits and then applies new events to the rebuilt state) and prints
``{"events": n, "seconds": s}``. Churn-risk episodes are not projections and are kept.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crmkit.config import ServiceSettings
from crmkit.principal import Principal
from crmkit.uow import Store
from services.analytics import handlers
from services.analytics.models import Base

MIGRATIONS = Path(__file__).parent / "migrations"


def rebuild(database_url: str) -> dict:
    store = Store("analytics", Base.metadata, MIGRATIONS, database_url, "memory://",
                  relay=False)
    try:
        store.migrate()
        with store.unit() as uow:
            return handlers.rebuild_projections(uow, Principal.system())
    finally:
        store.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: ANALYTICS_DATABASE_URL or var/")
    args = parser.parse_args(argv)
    url = args.database_url or ServiceSettings.from_env("analytics").database_url
    print(json.dumps(rebuild(url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
