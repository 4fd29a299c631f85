"""`nsw-adapter db migrate` and `nsw-adapter purge`: the store's schema and its retention of personal data.

`db migrate` is the one command that creates a store or changes its schema; every other command
opens only a store that is there at this version's schema (cli/common.py, open_existing).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from nsw_adapter.cli.common import add_store, open_existing, settings, store_url
from nsw_adapter.cli.config import load_config as load_config  # re-exported: tests and older imports
from nsw_adapter.errors import ConfigurationError, StoreUnreachable


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `db migrate` and `purge`."""
    db = commands.add_parser("db", help="the store's schema", description="The store's schema.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_commands.add_parser(
        "migrate",
        help="create the store, or bring its schema up to date (safe to repeat)",
        description="Create the store if there is none, or apply the schema steps it lacks. The only "
        "command that changes the schema: stop every daemon of an older version first.",
    )
    add_store(migrate)
    migrate.set_defaults(handler=_migrate)

    purge = commands.add_parser(
        "purge",
        help="remove payloads (personal data) past retention; audit rows and hashes stay",
        description="Remove the payloads (personal data) of messages older than the retention, of "
        "dossiers that are finished; audit rows, their hashes and the hash chain stay.",
    )
    add_store(purge)
    purge.add_argument(
        "--older-than",
        type=_days,
        default=None,
        metavar="DAYS",
        help="retention in days (default: store.retention_days from the settings)",
    )
    purge.add_argument(
        "--dry-run",
        action="store_true",
        help="count the payloads and event bodies that would be removed, remove none",
    )
    purge.set_defaults(handler=_purge)


def _migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from nsw_adapter.store import migrations
    from nsw_adapter.store.engine import create

    loaded = settings(args)
    url = store_url(args, loaded)
    engine = create(url, pool_size=1)
    try:
        applied = migrations.migrate(engine)
    except DBAPIError as exc:
        raise StoreUnreachable(f"cannot migrate the store: {str(exc.orig).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()
    print(f"migrated: applied {applied}" if applied else f"up to date (schema version {migrations.LATEST})")
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
    loaded = settings(args)
    days = loaded.store.retention_days if args.older_than is None else args.older_than
    if days < 0:
        raise ConfigurationError(f"store.retention_days must not be negative, not {days:g}")
    horizon = datetime.now(UTC) - timedelta(days=days)
    store = open_existing(args, loaded)
    try:
        purged = store.purge_payloads(horizon, dry_run=args.dry_run)
    finally:
        store.close()
    what = (
        f"the payloads of {purged.messages} messages"
        f" and the bodies of {purged.events} events no subscriber waits for"
    )
    if args.dry_run:
        print(f"would purge {what} older than {days:g} days (nothing removed)")
    else:
        print(f"purged {what} older than {days:g} days")
    return 0
