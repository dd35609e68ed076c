"""Throw-away PostgreSQL databases for tests (real server on 127.0.0.1:5432, trust auth)."""
from __future__ import annotations

import os
import uuid

import psycopg2

ADMIN_DSN = os.environ.get("CRM_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin():
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    return conn


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = _admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    base = ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = _admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
