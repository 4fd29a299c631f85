"""`nsw-adapter simulate portal|nsw`: the Border Guard portal and the NSW as loopback SOAP services.

Both start with no flags (the demo user; the NSW pushes to the adapter's default intake address)
and serve until interrupted (Ctrl-C / SIGTERM). Exit codes: 0 after a clean stop, 1 when the
input cannot be used (unreadable credentials, watchlist or dossiers), 2 for usage errors
(including a fault SPEC that does not parse).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from nsw_adapter.settings import IntakeSettings
from nsw_adapter.simulators.dossiers import generate, load_folder
from nsw_adapter.simulators.faults import FaultSpec, FaultSpecError, parse_fault_spec
from nsw_adapter.simulators.http import serve_until_interrupted
from nsw_adapter.simulators.nsw import SERVICE as NSW_SERVICE
from nsw_adapter.simulators.nsw import NswConfig, all_final, make_nsw_app
from nsw_adapter.simulators.nsw_messages import Document
from nsw_adapter.simulators.nsw_push import PushSettings
from nsw_adapter.simulators.portal import PATH as PORTAL_PATH
from nsw_adapter.simulators.portal import PortalConfig, make_portal_app

DEMO = {"demo": "demo"}
_INTAKE = IntakeSettings()
#: Where the adapter's intake listens when left at its defaults (settings.IntakeSettings).
DEFAULT_AGENCY_URL = f"http://{_INTAKE.host}:{_INTAKE.port}{_INTAKE.path}"


class _Usage(Exception):
    """A usage error (exit 2)."""


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `simulate portal` and `simulate nsw`."""
    simulate = commands.add_parser(
        "simulate",
        help="run the Border Guard portal or the NSW as a loopback SOAP service",
        description="Run a simulator of one of the two external systems (serves until interrupted).",
    )
    which = simulate.add_subparsers(dest="simulator", metavar="SIMULATOR", required=True)

    portal = which.add_parser("portal", help="the E-Border Guard Procedures Portal (bgp/portal.wsdl)")
    _common(portal, default_port=8802)
    portal.add_argument(
        "--decision-delay", type=float, default=2.0, metavar="SECONDS", help="seconds until a decision (2)"
    )
    portal.add_argument(
        "--watchlist", type=Path, metavar="FILE", help="document numbers to reject (one a line, # comments)"
    )
    portal.add_argument(
        "--supplements",
        type=Path,
        metavar="FILE",
        help="document numbers that draw a supplement request instead of the dossier's first decision "
        "(one a line, # comments)",
    )
    portal.add_argument(
        "--supplement-deadline",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="from a supplement request to its RespondBy; unanswered, it is rejected BG-SUPP-EXPIRED (3600)",
    )
    portal.set_defaults(handler=run_portal)

    nsw = which.add_parser("nsw", help="the National Single Window (nsw/nsw.wsdl, pushing to agency.wsdl)")
    _common(nsw, default_port=8801)
    nsw.add_argument(
        "--agency-url",
        action="append",
        metavar="URL",
        help=f"the adapter's receiveMessage endpoint ({DEFAULT_AGENCY_URL}, the adapter's default "
        "intake); repeated, each dossier goes to one of them, and to the next one when a push is refused "
        "at the connection level (that daemon down, as a load balancer would)",
    )
    source = nsw.add_mutually_exclusive_group()
    source.add_argument("--dossiers", type=Path, metavar="DIR", help="a dossier folder, or a folder of them")
    source.add_argument("--generate", type=int, metavar="N", help="generate N valid dossiers")
    nsw.add_argument(
        "--duplicates", type=float, default=0.0, metavar="P", help="push a message twice (share)"
    )
    nsw.add_argument("--shuffle", action="store_true", help="push each dossier's documents in shuffled order")
    nsw.add_argument("--seed", type=int, default=0, help="seed for shuffling, duplicates and generation")
    nsw.add_argument("--agency-user", default="demo", help="user name for pushes (demo)")
    nsw.add_argument("--agency-password", default="demo", help="password for pushes (demo)")
    nsw.add_argument("--push-timeout", type=float, default=10.0, metavar="SECONDS", help="per push (10)")
    nsw.add_argument(
        "--amend", type=int, default=0, metavar="K", help="then amend the Crew List of K dossiers"
    )
    nsw.add_argument("--cancel", type=int, default=0, metavar="K", help="then cancel the last K dossiers")
    nsw.add_argument(
        "--change-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="wait after the first pushes are answered before amending / cancelling (1)",
    )
    nsw.add_argument(
        "--exit-when-done", action="store_true", help="stop once every dossier has its final Result"
    )
    nsw.add_argument(
        "--answer-supplements",
        action="store_true",
        help="act as the agent: answer each Result 25 by amending the documents it names, a second later",
    )
    nsw.set_defaults(handler=run_nsw)


def _common(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port, help=f"port ({default_port}; 0: any free)")
    parser.add_argument(
        "--faults", metavar="SPEC", help="fault injection, e.g. seed=7,http503=0.05,latency=0.01"
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help='accepted users: JSON {"user": "password"} or user:password lines',
    )
    parser.add_argument("--verbose", action="store_true", help="log each request (ids and codes only)")


def read_credentials(path: Path | None) -> dict[str, str]:
    """Credentials from a JSON object or `user:password` lines; the demo user when no file is given."""
    if path is None:
        return dict(DEMO)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        loaded = json.loads(text)
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise ValueError(f"{path}: expected a JSON object of user names to passwords")
        return dict(loaded)
    credentials: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user:
            raise ValueError(f"{path}: expected user:password lines")
        credentials[user] = password
    if not credentials:
        raise ValueError(f"{path}: no credentials")
    return credentials


def read_watchlist(path: Path | None) -> frozenset[str]:
    """Document numbers, one a line; blank lines and # comments ignored."""
    if path is None:
        return frozenset()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line)


def _faults(spec: str | None) -> FaultSpec:
    try:
        return parse_fault_spec(spec)
    except FaultSpecError as exc:
        raise _Usage(f"--faults: {exc}") from None


def _users(credentials: Mapping[str, str], given: Path | None) -> str:
    if given is None:
        return "user demo / password demo"
    return f"{len(credentials)} user(s) from {given}"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


def run_portal(args: argparse.Namespace) -> int:
    """Serve the portal simulator until interrupted."""
    _setup_logging(args.verbose)
    try:
        faults = _faults(args.faults)
        if args.decision_delay < 0:
            raise _Usage("--decision-delay must be >= 0")
        credentials = read_credentials(args.credentials)
        watchlist = read_watchlist(args.watchlist)
        supplements = read_watchlist(args.supplements)
        if args.supplement_deadline <= 0:
            raise _Usage("--supplement-deadline must be > 0")
    except _Usage as exc:
        print(f"nsw-adapter simulate portal: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"nsw-adapter simulate portal: {exc}", file=sys.stderr)
        return 1
    config = PortalConfig(
        credentials=credentials,
        decision_delay=args.decision_delay,
        faults=faults,
        watchlist=watchlist,
        supplements=supplements,
        supplement_deadline=args.supplement_deadline,
    )

    def announce(port: int) -> None:
        print(
            f"Border Guard portal simulator listening on http://{args.host}:{port}{PORTAL_PATH} "
            f"(WSDL: ?wsdl; admin: /admin/state); accepting {_users(credentials, args.credentials)}; "
            f"decisions after {args.decision_delay:g} s; faults: {args.faults or 'off'}",
            flush=True,
        )

    async def make() -> web.Application:
        return await make_portal_app(config)

    return serve_until_interrupted(make, args.host, args.port, announce)


def chosen_agency_urls(args: argparse.Namespace) -> list[str]:
    """The --agency-url values, or the adapter's default intake when none is given."""
    return list(args.agency_url or [DEFAULT_AGENCY_URL])


def run_nsw(args: argparse.Namespace) -> int:
    """Push the dossiers asked for and serve the NSW gateway until interrupted."""
    _setup_logging(args.verbose)
    try:
        faults = _faults(args.faults)
        for name in ("duplicates",):
            if not 0 <= getattr(args, name) <= 1:
                raise _Usage(f"--{name} must be between 0 and 1")
        if args.generate is not None and args.generate < 0:
            raise _Usage("--generate must be >= 0")
        credentials = read_credentials(args.credentials)
        dossiers: list[list[Document]] = []
        if args.dossiers is not None:
            dossiers = load_folder(args.dossiers)
        elif args.generate:
            dossiers = generate(args.generate, seed=args.seed)
    except _Usage as exc:
        print(f"nsw-adapter simulate nsw: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"nsw-adapter simulate nsw: {exc}", file=sys.stderr)
        return 1
    agency_urls = chosen_agency_urls(args)
    config = NswConfig(
        push=PushSettings(
            agency_urls=tuple(agency_urls),
            user=args.agency_user,
            password=args.agency_password,
            timeout=args.push_timeout,
            duplicates=args.duplicates,
            shuffle=args.shuffle,
            seed=args.seed,
        ),
        credentials=credentials,
        faults=faults,
        answer_supplements=args.answer_supplements,
    )

    if dossiers:
        pushing = f"pushing {len(dossiers)} dossier(s) to {', '.join(agency_urls)} as user {args.agency_user}"
    else:
        pushing = "no dossiers to push (--dossiers DIR or --generate N)"

    def announce(port: int) -> None:
        print(
            f"NSW simulator listening on http://{args.host}:{port}/nsw/gateway (admin: /admin/state); "
            f"accepting {_users(credentials, args.credentials)}; {pushing}; faults: {args.faults or 'off'}",
            flush=True,
        )

    async def make() -> web.Application:
        return await make_nsw_app(config)

    async def after_start(app: web.Application) -> None:
        service = app[NSW_SERVICE]
        for dossier in dossiers:
            service.push(dossier)
        if args.amend or args.cancel:
            asyncio.get_running_loop().create_task(_changes(app, dossiers, args))

    async def done(app: web.Application) -> None:
        service = app[NSW_SERVICE]
        while True:
            await asyncio.sleep(0.5)
            if service.pusher.pending == 0 and all_final(service.snapshot()):
                print("Every dossier has its final Result; stopping.", flush=True)
                return

    return serve_until_interrupted(
        make, args.host, args.port, announce, after_start, done if args.exit_when_done else None
    )


async def _changes(app: web.Application, dossiers: list[list[Document]], args: argparse.Namespace) -> None:
    """After the first pushes are answered: amend the first K dossiers' Crew Lists, cancel the last K."""
    service = app[NSW_SERVICE]
    await service.pusher.idle.wait()
    await asyncio.sleep(args.change_delay)
    references = [dossier[0].reference for dossier in dossiers if dossier]
    for reference in references[: args.amend]:
        service.amend(reference, "51")
    for reference in references[len(references) - args.cancel :] if args.cancel else []:
        service.cancel(reference)
