"""`nsw-adapter config check`: the settings checked, then each dependency probed, one line each.

The store must be there at this version's schema; the portal must answer an authenticated
GetProcessingStatus for a receipt it never issued (NOT_FOUND means it accepted our credentials,
AUTH that it refused them); the NSW must answer HTTP at its URL (sending it anything would be a
message: its credentials are proven by the first Result). Exit 0 when every line is ok, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, cast

from nsw_adapter.cli.common import add_config, settings
from nsw_adapter.cli.config import find_config
from nsw_adapter.errors import NswAdapterError, StoreNotReady, StoreUnreachable
from nsw_adapter.settings import Settings, demo_credentials

#: A well-formed receipt number no portal issues: asking its status proves authentication only.
PROBE_RECEIPT = "NSWA-CONFIG-CHECK"
Probe = Callable[[Settings], str]


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `config check` and `config reference`."""
    config = commands.add_parser(
        "config", help="the settings file", description="The settings file and what it points at."
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate the settings and probe the store, the portal and the NSW (one line each)",
        description="Validate the settings (exit 2 on the first mistake, naming the key and the file), then "
        "probe each dependency: the store at this version's schema, the portal reachable and accepting our "
        "credentials, the NSW reachable. One line each; exit 0 when all are ok, 1 otherwise.",
    )
    add_config(check)
    check.set_defaults(handler=_check)
    reference = actions.add_parser(
        "reference",
        help="print the settings reference (Markdown, as docs/settings.md)",
        description="Print every setting (table, key, type, bounds, default, environment variable, meaning) "
        "as Markdown, generated from the settings model: docs/settings.md is this output.",
    )
    reference.set_defaults(handler=_reference)


def _reference(args: argparse.Namespace) -> int:
    from nsw_adapter.settings_reference import render

    sys.stdout.write(render())
    return 0


def _check(args: argparse.Namespace) -> int:
    loaded = settings(args)  # a mistake is ConfigurationError: one line, exit 2
    path = find_config(args.config)
    print(f"{'settings':<12}ok      {path if path is not None else 'no file: defaults and environment'}")
    failed = False
    probes: list[tuple[str, Probe]] = [
        ("credentials", _credentials),
        ("store", _store),
        ("portal", _portal),
        ("nsw", _nsw),
    ]
    for name, probe in probes:
        try:
            detail, ok = probe(loaded), True
        except _Failed as exc:
            detail, ok = str(exc), False
        failed = failed or not ok
        print(f"{name:<12}{'ok' if ok else 'FAILED':<8}{' '.join(detail.split())}")
    return 1 if failed else 0


class _Failed(Exception):
    """A probe's failure, its text the line's detail."""


def _credentials(loaded: Settings) -> str:
    demo = demo_credentials(loaded)
    if not demo:
        return "no demo password"
    if loaded.allow_demo_credentials:
        return f"demo password allowed (allow_demo_credentials) in {', '.join(demo)}"
    raise _Failed(f"the simulators' demo password in {', '.join(demo)}: `nsw-adapter run` refuses it")


def _store(loaded: Settings) -> str:
    from nsw_adapter.daemon import store_location
    from nsw_adapter.store import migrations
    from nsw_adapter.store.migrations import check_existing

    try:
        check_existing(loaded.store.url)
    except (StoreNotReady, StoreUnreachable) as exc:
        raise _Failed(str(exc)) from None
    return f"{store_location(loaded.store.url)} at schema version {migrations.LATEST}"


def _portal(loaded: Settings) -> str:
    from nsw_adapter.clients.errors import RemotePermanentError
    from nsw_adapter.errors import AuthenticationRefused
    from nsw_adapter.store import Store
    from nsw_adapter.worker import build_context

    # The daemon's own client factory: the same URL, credentials, timeout and network options.
    client = build_context(loaded, cast(Store, None)).portal_factory()
    url = loaded.portal.url
    try:
        client.statuses([PROBE_RECEIPT])
    except AuthenticationRefused as exc:
        why = exc.code or f"HTTP {exc.status}"
        raise _Failed(f"{url}: the portal refused our credentials ({why})") from None
    except RemotePermanentError as exc:
        if exc.code != "NOT_FOUND":
            raise _Failed(f"{url}: {exc}") from None
    except NswAdapterError as exc:
        raise _Failed(f"{url}: unreachable ({exc})") from None
    finally:
        client.close()
    return f"{url} reachable, credentials accepted"


def _nsw(loaded: Settings) -> str:
    import requests

    url = loaded.nsw.url
    try:
        answer = requests.get(url, timeout=loaded.nsw.timeout_seconds)
    except requests.RequestException as exc:
        raise _Failed(f"{url}: unreachable ({type(exc).__name__})") from None
    return f"{url} reachable (HTTP {answer.status_code}; credentials are proven by the first Result sent)"
