"""`nsw-adapter db migrate` and `nsw-adapter purge`: the store's schema and its retention of personal data."""

from __future__ import annotations

import argparse
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError

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
        type=_days,
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


def load_config(config: Path | None) -> Settings:
    """The settings from `config` and the environment, or ConfigurationError saying in one line why not.

    A validation error names the offending keys and what is wrong, never the values (they may be secrets).
    """
    if config is not None and not config.is_file():
        raise ConfigurationError(f"no settings file at {config}")
    try:
        return load_settings(config)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{config} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{config} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {config}: {exc.strerror or type(exc).__name__}") from None
    except ValidationError as exc:
        where = "NSW_ADAPTER_* environment" if config is None else f"{config} / NSW_ADAPTER_* environment"
        raise ConfigurationError(f"invalid settings in {where}: {_summary(exc)}") from None


def _summary(exc: ValidationError, limit: int = 3) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [
        f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {' '.join(error['msg'].split())}"
        for error in errors[:limit]
    ]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def _settings(args: argparse.Namespace) -> Settings:
    config: Path | None = args.config
    return load_config(config)


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


def _days(text: str) -> float:
    """A retention in days: a number >= 0 (anything else is a usage error, exit 2)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not days >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return days


def _purge(args: argparse.Namespace) -> int:
    from nsw_adapter.store import open_store

    settings = _settings(args)
    days = settings.store.retention_days if args.older_than is None else args.older_than
    if days < 0:
        raise ConfigurationError(f"store.retention_days must not be negative, not {days:g}")
    horizon = datetime.now(UTC) - timedelta(days=days)
    store = open_store(_url(args, settings), migrate=True, pool_size=1)
    try:
        purged = store.purge_payloads(horizon)
    finally:
        store.close()
    print(f"purged the payloads of {purged} messages older than {days:g} days")
    return 0
