"""Alembic environment of the gateway store (version table ``alembic_version_gateway``).

The URL comes from the ``sqlalchemy.url`` option (set by ``gateway.db.run_migrations``) or,
from the command line, from ``GATEWAY_DATABASE_URL`` through the gateway settings. On
PostgreSQL an advisory lock serialises replicas that start at the same time.
"""
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text

from gateway.db import make_engine
from gateway.models import Base

VERSION_TABLE = "alembic_version_gateway"
ADVISORY_LOCK_ID = 71_420_001  # any constant unique to the gateway's migrations

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from gateway.settings import Settings

    return Settings().gateway_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True,
                      version_table=VERSION_TABLE, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            is_postgres = connection.dialect.name == "postgresql"
            if is_postgres:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
                connection.commit()
            try:
                context.configure(connection=connection, target_metadata=Base.metadata,
                                  version_table=VERSION_TABLE,
                                  render_as_batch=connection.dialect.name == "sqlite")
                with context.begin_transaction():
                    context.run_migrations()
                connection.commit()
            finally:
                if is_postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"),
                                       {"id": ADVISORY_LOCK_ID})
                    connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
