"""What every command shares: the --config and --store options, the settings, the store opened for reading.

Exit codes (the same for every command, see Exit): 0 success, 1 problems found or the command
failed, 2 usage or settings errors, 3 no store there or its schema is not this version's, 4 a
dependency unreachable, 5 cannot listen on a port, 141 the reader of the output went away.
"""

from __future__ import annotations

import argparse
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from nsw_adapter.cli.config import CONFIG_ENV, DEFAULT_CONFIG, load_config
from nsw_adapter.errors import ConfigurationError, StoreNotReady
from nsw_adapter.logging import configure_logging
from nsw_adapter.settings import Settings, StoreUrl

if TYPE_CHECKING:
    from nsw_adapter.store import SqlStore


class Exit(IntEnum):
    """The process exit codes of `nsw-adapter` (README, Command line)."""

    OK = 0
    PROBLEMS = 1  # the input has problems, or the command did not do what was asked
    USAGE = 2  # a wrong option, or settings that cannot work
    NO_STORE = 3  # no store at the configured place, or its schema is older / newer than this version's
    UNREACHABLE = 4  # a dependency (the store's server) did not answer
    CANNOT_LISTEN = 5  # a port in use, or not ours to bind
    BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a reader that went away (`status | head`)


class CommandError(Exception):
    """An expected failure: printed as one line on stderr, the process exiting with `code`."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def add_config(parser: argparse.ArgumentParser) -> None:
    """--config FILE."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"TOML settings file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG} if present); "
        "NSW_ADAPTER_* environment variables override it",
    )


def add_store(parser: argparse.ArgumentParser) -> None:
    """--config FILE and --store URL."""
    add_config(parser)
    parser.add_argument(
        "--store", default=None, metavar="URL", help="store URL (overrides store.url of the settings)"
    )


def settings(args: argparse.Namespace) -> Settings:
    """The settings of this command (ConfigurationError in one line when they cannot work); the
    command's own log lines then follow observability.log_format and log_level, on stderr."""
    loaded = load_config(args.config)
    configure_logging(loaded.observability.log_level, loaded.observability.log_format)
    return loaded


def store_url(args: argparse.Namespace, loaded: Settings) -> str:
    """--store if given (checked as store.url is), else store.url."""
    given: str | None = getattr(args, "store", None)
    if given is None:
        return loaded.store.url
    try:
        checked: str = TypeAdapter(StoreUrl).validate_python(given)
    except ValidationError as exc:
        reason = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise ConfigurationError(f"--store: {' '.join(reason.split())}") from None
    return checked


def open_existing(args: argparse.Namespace, loaded: Settings, *, pool_size: int = 1) -> SqlStore:
    """The configured store, only if it is there at this version's schema: nothing is created or
    migrated (`nsw-adapter db migrate` does that)."""
    from nsw_adapter.store import open_store

    url = store_url(args, loaded)
    try:
        return open_store(
            url, existing=True, pool_size=pool_size, deadline_minutes=loaded.store.deadline_minutes
        )
    except StoreNotReady as exc:
        if str(exc).startswith("no "):
            config = "--store" if getattr(args, "store", None) else "--config"
            raise StoreNotReady(f"{exc}: wrong {config}? (`nsw-adapter db migrate` creates one)") from None
        raise
