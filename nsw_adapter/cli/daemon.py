"""`nsw-adapter run | status | dlq | demo`: the daemon and its operations."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nsw_adapter.cli.common import CommandError, Exit, add_config, open_existing, settings
from nsw_adapter.settings import ROLES, Settings

if TYPE_CHECKING:
    from nsw_adapter.store import DeadLetter, SqlStore

_KINDS = ("dossier", "outbox")


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands."""
    run = commands.add_parser(
        "run",
        help="run the adapter: intake, submission, polling, results",
        description="The daemon: the intake the NSW pushes to, the loops that submit to the portal, poll "
        "its decisions and send the Results, and /healthz and /metrics. SIGTERM, SIGINT and SIGHUP stop "
        "it gracefully. The store must exist at this version's schema (`nsw-adapter db migrate`).",
    )
    add_config(run)
    run.add_argument(
        "--role",
        action="append",
        choices=ROLES,
        default=None,
        help="run only this part (repeatable; default: the roles setting, intake and worker)",
    )
    run.set_defaults(handler=_run)

    status = commands.add_parser(
        "status",
        help="dossiers by state, the oldest waiting, dead letters, the daemon's dependencies",
        description="The store's dossiers by state, the oldest one waiting, the Results to send and the "
        "dead letters (read only: creates and changes nothing), then the daemon's /healthz at "
        "observability.host and port: its status and each dependency (store, portal, NSW) with its "
        "state, last success and last error.",
    )
    add_config(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    dlq = commands.add_parser(
        "dlq",
        help="dead letters: list them, retry them, or discard them",
        description="Dead letters: dossiers and Results the adapter gave up on.",
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    listing = dlq_commands.add_parser(
        "list", help="list dead letters", description="Every dead letter with its reference and whole reason."
    )
    add_config(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_dlq_list)
    retry = dlq_commands.add_parser(
        "retry",
        help="bring dead letters back to be tried again (by id, by reference, or --all)",
        description="Bring dead letters back to be tried again: one by id, every one of a dossier's "
        "reference, or all of them.",
    )
    add_config(retry)
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", metavar="ID|REFERENCE", help=_TARGET_HELP)
    target.add_argument("--all", action="store_true", help="retry every dead letter")
    retry.set_defaults(handler=_dlq_retry)
    discard = dlq_commands.add_parser(
        "discard",
        help="close a dead letter for good, the reason kept in the audit trail",
        description="Close dead letters for good (nothing more is sent for them); the reason is kept "
        "in the hash-chained audit trail. A dossier discarded can still be cancelled by the NSW.",
    )
    add_config(discard)
    discard.add_argument("id", metavar="ID|REFERENCE", help=_TARGET_HELP)
    discard.add_argument("--reason", required=True, help="why (kept in the audit trail; no personal data)")
    discard.set_defaults(handler=_dlq_discard)

    demo = commands.add_parser(
        "demo",
        help="simulated NSW and portal, a worker, ~30 dossiers, a summary",
        description="Both simulators with moderate faults and the adapter on a temporary SQLite store; "
        "about 30 dossiers pushed and followed to their final Result. Exit 0 when nothing was lost or "
        "doubled.",
    )
    demo.add_argument("--dossiers", type=int, default=None, help="how many generated cargo dossiers to add")
    demo.add_argument("--timeout", type=float, default=55.0, help="give up after this many seconds")
    demo.add_argument("--faults", default=None, help="portal fault SPEC (default: moderate faults)")
    demo.add_argument(
        "--amqp",
        default=None,
        metavar="URL",
        help="a RabbitMQ (amqp://user:password@host:5672/vhost): the event feed goes to a queue there "
        "too, besides the reference webhook subscriber",
    )
    demo.set_defaults(handler=_demo)


_TARGET_HELP = (
    "dossier:ID or outbox:ID (a bare number is a dossier's id), or a dossier's reference "
    "(every dead letter of it; ref:REFERENCE if the reference is all digits)"
)


def _run(args: argparse.Namespace) -> int:
    from nsw_adapter.daemon import run

    loaded = settings(args)
    if args.role:
        loaded = loaded.model_copy(update={"roles": tuple(dict.fromkeys(args.role))})
    return run(loaded, config=args.config)


def _status(args: argparse.Namespace) -> int:
    from nsw_adapter.store import SubscriberFigures

    loaded = settings(args)
    store = open_existing(args, loaded)
    try:
        stats = store.stats(datetime.now(UTC))
        letters = store.dead_letters()
    finally:
        store.close()
    daemon = daemon_health(loaded)
    # The event feed: every configured subscriber (at zero when nothing waits), and any other one
    # a backlog is still held for (a subscriber since removed from the settings).
    configured = [s.name for s in loaded.subscribers]
    feed = {
        name: stats.subscribers.get(name, SubscriberFigures())
        for name in sorted({*configured, *stats.subscribers})
    }
    if args.json:
        print(
            json.dumps(
                {
                    "dossiers_by_state": stats.dossiers_by_state,
                    "oldest_waiting_seconds": stats.oldest_waiting_seconds,
                    "dead_letters": stats.dead_letters,
                    "outbox_pending": stats.outbox_pending,
                    "unknown_portal_states": stats.unknown_portal_states,
                    "supplement_requests": stats.supplement_requests,
                    "events_unfanned": stats.events_unfanned,
                    "subscribers": {
                        name: {
                            "pending": f.pending,
                            "oldest_pending_seconds": f.oldest_pending_seconds,
                            "dead": f.dead,
                        }
                        for name, f in feed.items()
                    },
                    "daemon": daemon,
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
    if configured:  # without subscribers, events are kept (for a replay) but never fanned out
        print(f"Events to fan out   {stats.events_unfanned}")
    for name, figures in feed.items():
        age = figures.oldest_pending_seconds
        print(f"  subscriber {name:<14} pending {figures.pending:>6}  oldest "
              f"{'-' if age is None else f'{age:.0f} s'}  dead {figures.dead}")  # fmt: skip
    print(f"Dead letters        {stats.dead_letters}")
    if stats.supplement_requests:
        outcomes = ", ".join(f"{n} {outcome}" for outcome, n in sorted(stats.supplement_requests.items()))
        print(f"Supplement requests {sum(stats.supplement_requests.values())} ({outcomes})")
    if stats.unknown_portal_states:
        # A newer portal's state: the dossiers are polled on, but this adapter may need upgrading.
        print("Portal states not known to this adapter (dossiers polled on; upgrade nsw-adapter?)")
        for state, count in sorted(stats.unknown_portal_states.items()):
            print(f"  {state:<18}{count:>8}")
    for letter in letters[:20]:
        print(f"  {letter.kind}:{letter.id}  {letter.reference or '-'}  {_one_line(letter.reason)}")
    if len(letters) > 20:
        print(f"  ... and {len(letters) - 20} more: nsw-adapter dlq list")
    _print_daemon(daemon)
    return 0


def daemon_health(loaded: Settings, timeout: float = 3.0) -> dict[str, Any]:
    """The daemon's /healthz at observability.host:port, as it answered (`url`, `http_status` and its
    body: status, dependencies...), or `url` and `error` when nothing answers there."""
    import requests

    obs = loaded.observability
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(obs.host, obs.host)  # noqa: S104
    url = f"http://{f'[{host}]' if ':' in host else host}:{obs.port}/healthz"
    try:
        answer = requests.get(url, timeout=timeout)
        body = answer.json()
    except (requests.RequestException, ValueError) as exc:
        return {"url": url, "error": f"not answering ({type(exc).__name__})"}
    if not isinstance(body, dict):
        return {"url": url, "error": f"not a /healthz answer (HTTP {answer.status_code})"}
    return {"url": url, "http_status": answer.status_code, **body}


def _print_daemon(daemon: dict[str, Any]) -> None:
    """The daemon's status line, then one line per dependency: state, last success, last error."""
    if "error" in daemon:
        print(f"Daemon              {daemon['error']} at {daemon['url']}")
        return
    degraded_by = daemon.get("degraded_by")
    by = f" by {', '.join(degraded_by)}" if degraded_by else ""
    print(f"Daemon              {daemon.get('status')}{by} (HTTP {daemon['http_status']}, {daemon['url']})")
    dependencies: dict[str, dict[str, Any]] = daemon.get("dependencies") or {}
    # Then each event subscriber this daemon has sent to (a refusal shows here, not in its status).
    subscribers: dict[str, dict[str, Any]] = daemon.get("subscribers") or {}
    seen_subscribers = {f"subscriber {name}": seen for name, seen in subscribers.items() if "state" in seen}
    rows = {**dependencies, **seen_subscribers}
    width = max([8, *(len(name) + 2 for name in rows)])
    for name, seen in rows.items():
        line = f"  {name:<{width}}{seen.get('state', '?'):<13}last success {seen.get('last_success') or '-'}"
        if seen.get("last_error"):
            line += f"  last error {seen.get('last_error_at')}: {_one_line(str(seen['last_error']))}"
        print(line)


def _one_line(reason: str) -> str:
    """A reason whole, its line breaks as spaces (one dead letter per line)."""
    return " ".join(reason.split())


def _dlq_list(args: argparse.Namespace) -> int:
    store = open_existing(args, settings(args))
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
        failed = f"{d.failed_at:%Y-%m-%d %H:%M:%S}"
        print(f"{d.kind}:{d.id}\t{d.reference or '-'}\t{failed}\t{_one_line(d.reason)}")
    return 0


def _targets(target: str, letters: list[DeadLetter]) -> list[tuple[str, int]]:
    """The dead letters `target` names: KIND:ID, a bare id (a dossier), or a reference (all of it)."""
    kind, _, rest = target.rpartition(":")
    if kind in _KINDS and rest.isdigit():
        return [(kind, int(rest))]
    if not kind and rest.isdigit():
        return [("dossier", int(rest))]
    reference = rest if kind == "ref" else target
    found = [(d.kind, d.id) for d in letters if d.reference == reference]
    if not found:
        raise CommandError(f"no dead letter {target} (nsw-adapter dlq list shows them)", Exit.PROBLEMS)
    return found


def _dlq_retry(args: argparse.Namespace) -> int:
    store = open_existing(args, settings(args))
    try:
        letters = store.dead_letters()
        targets = [(d.kind, d.id) for d in letters] if args.all else _targets(str(args.id), letters)
        missing = [f"{k}:{i}" for k, i in targets if not store.retry_dead_letter(k, i)]
    finally:
        store.close()
    print(f"{len(targets) - len(missing)} dead letter(s) back in the queue.")
    if missing:
        print(f"nsw-adapter: no dead letter {', '.join(missing)}", file=sys.stderr)
        return Exit.PROBLEMS
    return 0


def _dlq_discard(args: argparse.Namespace) -> int:
    reason = " ".join(str(args.reason).split())
    if not reason:
        raise CommandError("--reason must say why", Exit.USAGE)
    store: SqlStore = open_existing(args, settings(args))
    try:
        targets = _targets(str(args.id), store.dead_letters())
        missing = [f"{k}:{i}" for k, i in targets if not store.discard_dead_letter(k, i, reason)]
    finally:
        store.close()
    print(f"{len(targets) - len(missing)} dead letter(s) discarded.")
    if missing:
        print(f"nsw-adapter: no dead letter {', '.join(missing)}", file=sys.stderr)
        return Exit.PROBLEMS
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nsw_adapter.demo import run_demo

    return run_demo(dossiers=args.dossiers, timeout=args.timeout, faults=args.faults, amqp_url=args.amqp)
