"""`nsw-adapter db migrate` and `nsw-adapter purge`: the store's schema and its retention of personal data."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from nsw_adapter.errors import ConfigurationError
from nsw_adapter.settings import Settings, load_settings

log = structlog.get_logger(__name__)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `db migrate` and `purge`."""
    db = commands.add_parser("db", help="the store's schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_commands.add_parser("migrate", help="bring the store's schema up to date (safe to repeat)")
    _common(migrate)
    migrate.set_defaults(handler=_migrate)

    purge = commands.add_parser(
        "purge", help="remove payloads (personal data) past retention; audit rows and hashes stay"
    )
    _common(purge)
    purge.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="retention in days (default: store.retention_days from the settings)",
    )
    purge.set_defaults(handler=_purge)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (plus NSW_ADAPTER_* env)"
    )
    parser.add_argument("--store", default=None, metavar="URL", help="store URL (overrides store.url)")


def _settings(args: argparse.Namespace) -> Settings:
    config: Path | None = args.config
    if config is not None and not config.is_file():
        raise ConfigurationError(f"no settings file at {config}")
    return load_settings(config)


def _url(args: argparse.Namespace, settings: Settings) -> str:
    url: str = args.store or settings.store.url
    return url


def _migrate(args: argparse.Namespace) -> int:
    from nsw_adapter.store import migrations
    from nsw_adapter.store.engine import create

    settings = _settings(args)
    engine = create(_url(args, settings), pool_size=1)
    try:
        applied = migrations.migrate(engine)
    finally:
        engine.dispose()
    print(f"migrated: applied {applied}" if applied else "up to date")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from nsw_adapter.store import open_store

    settings = _settings(args)
    days = settings.store.retention_days if args.older_than is None else args.older_than
    if days < 0:
        raise SystemExit("--older-than must not be negative")
    horizon = datetime.now(UTC) - timedelta(days=days)
    store = open_store(_url(args, settings), migrate=True, pool_size=1)
    try:
        purged = store.purge_payloads(horizon)
    finally:
        store.close()
    print(f"purged the payloads of {purged} messages older than {days:g} days")
    return 0
