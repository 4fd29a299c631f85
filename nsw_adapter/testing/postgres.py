"""Throwaway PostgreSQL databases for tests and benchmarks: each made from template0, dropped after.

The server is at NSW_ADAPTER_TEST_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import uuid

import psycopg
from psycopg import sql

PG_DSN = os.environ.get("NSW_ADAPTER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SKIP_PG = "NSW_ADAPTER_TEST_SKIP_PG"


def pg_error() -> str | None:
    """Why the test PostgreSQL cannot be reached (None when it answers)."""
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__


def shown_dsn() -> str:
    """PG_DSN as it may be printed: a password in it is masked."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(PG_DSN)
    except psycopg.Error:
        return PG_DSN  # not a DSN psycopg can read (so it holds no password it would use)
    if "password" not in parts:
        return PG_DSN
    parts["password"] = "***"  # noqa: S105 - a mask, not a password
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


def create_pg_database() -> str:
    """Create an empty database `nswa_<random>` and return its SQLAlchemy URL."""
    name = f"nswa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    base = psycopg.conninfo.conninfo_to_dict(PG_DSN)
    host, port, user = base.get("host", "127.0.0.1"), base.get("port", "5432"), base.get("user", "postgres")
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database (its connections are ended first)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
