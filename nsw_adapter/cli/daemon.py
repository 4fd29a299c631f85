"""`nsw-adapter run | status | dlq | demo`: the daemon and its operations."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nsw_adapter.cli.storage import load_config
from nsw_adapter.settings import ROLES, Settings


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands."""
    run = commands.add_parser("run", help="run the adapter: intake, submission, polling, results")
    _config(run)
    run.add_argument(
        "--role",
        action="append",
        choices=ROLES,
        default=None,
        help="run only this part (repeatable; default: the roles setting, intake and worker)",
    )
    run.set_defaults(handler=_run)

    status = commands.add_parser("status", help="dossiers by state, the oldest waiting, dead letters")
    _config(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    dlq = commands.add_parser("dlq", help="dead letters: list them, or bring them back to be retried")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    listing = dlq_commands.add_parser("list", help="list dead letters")
    _config(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_dlq_list)
    retry = dlq_commands.add_parser("retry", help="retry one dead letter (KIND:ID or ID) or --all")
    _config(retry)
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", help="dossier:ID or outbox:ID (a bare ID means a dossier)")
    target.add_argument("--all", action="store_true", help="retry every dead letter")
    retry.set_defaults(handler=_dlq_retry)

    demo = commands.add_parser("demo", help="simulated NSW and portal, a worker, ~30 dossiers, a summary")
    demo.add_argument("--dossiers", type=int, default=None, help="how many generated cargo dossiers to add")
    demo.add_argument("--timeout", type=float, default=55.0, help="give up after this many seconds")
    demo.add_argument("--faults", default=None, help="portal fault SPEC (default: moderate faults)")
    demo.set_defaults(handler=_demo)


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (plus NSW_ADAPTER_* env)"
    )


def _settings(args: argparse.Namespace) -> Settings:
    config: Path | None = args.config
    return load_config(config)


def _open(settings: Settings) -> Any:
    from nsw_adapter.store import open_store

    return open_store(settings.store.url, deadline_minutes=settings.store.deadline_minutes, migrate=True)


def _run(args: argparse.Namespace) -> int:
    from nsw_adapter.daemon import run

    settings = _settings(args)
    if args.role:
        settings = settings.model_copy(update={"roles": tuple(dict.fromkeys(args.role))})
    return run(settings)


def _status(args: argparse.Namespace) -> int:
    store = _open(_settings(args))
    try:
        stats = store.stats(datetime.now(UTC))
        letters = store.dead_letters()
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {
                    "dossiers_by_state": stats.dossiers_by_state,
                    "oldest_waiting_seconds": stats.oldest_waiting_seconds,
                    "dead_letters": stats.dead_letters,
                    "outbox_pending": stats.outbox_pending,
                }
            )
        )
        return 0
    print("Dossiers by state")
    for state, count in sorted(stats.dossiers_by_state.items()):
        print(f"  {state:<18}{count:>8}")
    oldest = stats.oldest_waiting_seconds
    print(f"Oldest waiting      {'-' if oldest is None else f'{oldest:.0f} s'}")
    print(f"Results to send     {stats.outbox_pending}")
    print(f"Dead letters        {stats.dead_letters}")
    for letter in letters[:20]:
        print(f"  {letter.kind}:{letter.id}  {letter.reference or '-'}  {letter.reason[:80]}")
    return 0


def _dlq_list(args: argparse.Namespace) -> int:
    store = _open(_settings(args))
    try:
        letters = store.dead_letters()
    finally:
        store.close()
    if args.json:
        rows = [
            {
                "id": f"{d.kind}:{d.id}",
                "reference": d.reference,
                "reason": d.reason,
                "failed_at": d.failed_at.isoformat(),
            }
            for d in letters
        ]
        print(json.dumps(rows))
        return 0
    if not letters:
        print("No dead letters.")
    for d in letters:
        print(f"{d.kind}:{d.id}\t{d.reference or '-'}\t{d.failed_at:%Y-%m-%d %H:%M:%S}\t{d.reason}")
    return 0


def _dlq_retry(args: argparse.Namespace) -> int:
    store = _open(_settings(args))
    try:
        if args.all:
            targets = [(d.kind, d.id) for d in store.dead_letters()]
        else:
            kind, _, number = str(args.id).rpartition(":")
            if not number.isdigit() or kind not in ("", "dossier", "outbox"):
                print(f"nsw-adapter: {args.id!r} is not dossier:ID, outbox:ID or ID", file=sys.stderr)
                return 2
            targets = [(kind or "dossier", int(number))]
        missing = [f"{k}:{i}" for k, i in targets if not store.retry_dead_letter(k, i)]
    finally:
        store.close()
    print(f"{len(targets) - len(missing)} dead letter(s) back in the queue.")
    if missing:
        print(f"nsw-adapter: no dead letter {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nsw_adapter.demo import run_demo

    return run_demo(dossiers=args.dossiers, timeout=args.timeout, faults=args.faults)
