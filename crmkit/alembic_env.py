"""Shared body of every service's ``migrations/env.py``.

Migrations normally run on service start (``crmkit.db.migrate`` passes the open
connection). From the command line (``alembic -c services/leads/alembic.ini
revision --autogenerate``) the URL comes from the service's ``*_DATABASE_URL``.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from crmkit.config import ServiceSettings


def run(metadata: sa.MetaData, service: str) -> None:
    config = context.config
    version_table = config.attributes.get("version_table", f"alembic_version_{service}")
    connection = config.attributes.get("connection")
    opts = dict(target_metadata=metadata, version_table=version_table,
                render_as_batch=True, compare_type=True)
    if connection is not None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(ServiceSettings.from_env(service).database_url)
    with engine.connect() as conn:
        context.configure(connection=conn, **opts)
        with context.begin_transaction():
            context.run_migrations()
