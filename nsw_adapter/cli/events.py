"""`nsw-adapter events list|replay|forget`: what a subscriber of the event feed was sent, sending
it again, and forgetting a subscriber removed from the settings.

Both take a subscriber by its name in [[subscribers]] (its types and gates filter what is listed
or replayed) and a time range of the events: `--from` and `--to` are dates (Vietnam local days,
both included) or ISO 8601 times; without `--to`, up to now. A replayed event is the same event,
id and bytes unchanged, so the subscriber deduplicates what it already had; each dossier's
events go out again in order. Events whose body went with the other payloads (retention) are
listed as purged and cannot be replayed. Lines carry ids, types, references and counts only.

`forget` takes a name no longer in [[subscribers]] (a configured one is refused: remove it from
the settings first, so that no worker fans out to it again) and drops its deliveries, so that
its backlog stops showing in `status`, /healthz and the metrics.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from nsw_adapter.cli.common import CommandError, Exit, add_store, open_existing, settings
from nsw_adapter.envelope import VIETNAM
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.settings import Settings


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `events list`, `events replay` and `events forget`."""
    events = commands.add_parser(
        "events",
        help="the event feed: list what a subscriber was sent, replay what it missed",
        description="The dossier event feed to the agencies' systems ([[subscribers]]).",
    )
    actions = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="the events a subscriber wants in a time range, with their delivery to it",
        description="Each event (time, id, type, dossier, sequence) the subscriber wants, with its "
        "delivery: pending, delivered, dead, - (not fanned out to it yet) or purged.",
    )
    _range(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per event, in a list")
    listing.set_defaults(handler=_list)
    replay = actions.add_parser(
        "replay",
        help="send a subscriber again the events of a time range (same ids: it deduplicates)",
        description="Every event of the range the subscriber wants is sent to it again by the "
        "running workers, in order per dossier, retried as any delivery.",
    )
    _range(replay)
    replay.set_defaults(handler=_replay)
    forget = actions.add_parser(
        "forget",
        help="drop the deliveries of a subscriber removed from [[subscribers]]",
        description="A subscriber removed from the settings keeps its undelivered events in the "
        "store (and in status); this drops them. Refused while the name is still configured.",
    )
    forget.add_argument("--subscriber", required=True, metavar="NAME", help="the removed subscriber's name")
    add_store(forget)
    forget.set_defaults(handler=_forget)


def _range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscriber", required=True, metavar="NAME", help="a [[subscribers]] name")
    parser.add_argument("--from", dest="start", required=True, type=_moment, metavar="DATE",
                        help="first day (YYYY-MM-DD, Vietnam) or time (ISO 8601)")  # fmt: skip
    parser.add_argument("--to", dest="end", type=_moment, metavar="DATE",
                        help="last day, included, or time (default: now)")  # fmt: skip
    add_store(parser)


def _moment(value: str) -> date | datetime:
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD) or an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VIETNAM)


def _bounds(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """[start, end) in UTC: a date's day starts at local midnight; a --to date includes its day."""
    start: date | datetime = args.start
    end: date | datetime | None = args.end
    if not isinstance(start, datetime):
        start = datetime.combine(start, time(), VIETNAM)
    if end is None:
        end = datetime.now(UTC) + timedelta(seconds=1)
    elif not isinstance(end, datetime):
        end = datetime.combine(end + timedelta(days=1), time(), VIETNAM)
    if end <= start:
        raise CommandError("--to is before --from", Exit.USAGE)
    return start.astimezone(UTC), end.astimezone(UTC)


def _subscriber(loaded: Settings, name: str) -> SubscriberSettings:
    for subscriber in loaded.subscribers:
        if subscriber.name == name:
            return subscriber
    known = ", ".join(s.name for s in loaded.subscribers) or "none configured"
    raise CommandError(f"no subscriber {name!r} in [[subscribers]] ({known})", Exit.USAGE)


def _list(args: argparse.Namespace) -> int:
    loaded = settings(args)
    subscriber = _subscriber(loaded, args.subscriber)
    start, end = _bounds(args)
    store = open_existing(args, loaded)
    try:
        found = store.events(subscriber, start, end)
    finally:
        store.close()
    rows: list[dict[str, Any]] = [
        {
            "time": r.created_at.isoformat(),
            "id": r.event_id,
            "type": r.type,
            "reference": r.reference,
            "procedure": "entry" if r.document_type == "1" else "exit",
            "sequence": r.sequence,
            "gate": r.gate,
            "delivery": "purged" if r.purged and r.status is None else (r.status or "-"),
            "attempts": r.attempts,
            "delivered_at": None if r.delivered_at is None else r.delivered_at.isoformat(),
        }
        for r in found
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return Exit.OK
    for row in rows:
        print(f"{row['time'][:19]}  {row['id']}  {row['type']:<27} {row['reference']} "
              f"({row['procedure']}) #{row['sequence']}  {row['delivery']}"
              + (f" after {row['attempts']} failed attempt(s)" if row["attempts"] else ""))  # fmt: skip
    waiting = sum(1 for r in rows if r["delivery"] != "delivered")
    print(f"{len(rows)} event(s) for {subscriber.name}; {waiting} not delivered")
    return Exit.OK


def _replay(args: argparse.Namespace) -> int:
    loaded = settings(args)
    subscriber = _subscriber(loaded, args.subscriber)
    start, end = _bounds(args)
    store = open_existing(args, loaded)
    try:
        count = store.replay_events(subscriber, start, end)
    finally:
        store.close()
    print(f"{count} event(s) will be sent to {subscriber.name} again (in order per dossier)")
    return Exit.OK


def _forget(args: argparse.Namespace) -> int:
    loaded = settings(args)
    name = args.subscriber
    if any(subscriber.name == name for subscriber in loaded.subscribers):
        raise CommandError(
            f"subscriber {name!r} is still in [[subscribers]]: remove it from the settings (and restart"
            " the workers) first; a subscriber still sent events would silently miss those dropped",
            Exit.USAGE,
        )
    store = open_existing(args, loaded)
    try:
        dropped = store.forget_subscriber(name)
    finally:
        store.close()
    print(f"forgot subscriber {name}: {dropped} undelivered event(s) dropped")
    return Exit.OK
