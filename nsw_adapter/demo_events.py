"""The event feed in `nsw-adapter demo`: its subscribers, the events the simulators' state implies,
what each subscriber received, and the check that it is exactly that.

What a dossier's results at the NSW imply (a final 22 with no portal receipt is the adapter's
own rejection): one `received` per version the portal saw a 21 for (a locally rejected dossier:
one), each followed by `stowaways-reported`/`arms-declared` when its General Declaration says so;
a `superseded` per version after the first; a `submitted` per 21; a `cleared` per 23, a `rejected`
per 22 and a `cancelled` per 24; a supplement request (a 25) causes none, its answer is a new
version like any amendment. Each event must arrive once (after deduplication by id) and a
dossier's events in their sequence order, 1, 2, 3 ...
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from nsw_adapter.dossier_facts import vessel_facts_of_envelope

#: The webhook subscriber the demo starts (the reference subscriber, all types).
WEBHOOK = "customs"
#: The AMQP subscriber the demo adds when given a broker (a queue of its own, all types).
AMQP = "port-authority"


@dataclass(frozen=True, slots=True)
class Declared:
    """What a dossier's General Declaration says that causes events of its own."""

    stowaways: bool = False
    arms: bool = False


def declared(documents: Iterable[bytes]) -> Declared:
    """From a dossier's envelopes: whether its General Declaration reports stowaways or arms."""
    for data in documents:
        facts = vessel_facts_of_envelope(data)
        if facts is not None:
            return Declared(bool(facts.stowaways), bool(facts.arms))
    return Declared()


def subscriber_settings(webhook_url: str, secret: str, amqp_url: str | None) -> list[dict[str, Any]]:
    """The demo's [[subscribers]]: the webhook, and an AMQP exchange with its own queue if a broker."""
    found: list[dict[str, Any]] = [
        {"name": WEBHOOK, "kind": "webhook", "url": webhook_url, "secret": secret, "timeout_seconds": 5.0}
    ]
    if amqp_url is not None:
        suffix = uuid.uuid4().hex[:8]
        found.append(
            {
                "name": AMQP,
                "kind": "amqp",
                "url": amqp_url,
                "exchange": f"nsw-adapter-demo-{suffix}",
                "queue": f"nsw-adapter-demo-{suffix}",
                "timeout_seconds": 5.0,
            }
        )
    return found


def implied(nsw_dossier: Mapping[str, Any], flags: Declared) -> Counter[str]:
    """The events (type -> count) one dossier's results at the NSW imply."""
    results: Mapping[str, int] = nsw_dossier.get("results", {})
    versions = results.get("21", 0) or (1 if results.get("22") else 0)
    found: Counter[str] = Counter()
    found["dossier.received"] = versions
    found["dossier.superseded"] = max(0, versions - 1)
    if flags.stowaways:
        found["dossier.stowaways-reported"] = versions
    if flags.arms:
        found["dossier.arms-declared"] = versions
    found["dossier.submitted"] = results.get("21", 0)
    found["dossier.cleared"] = results.get("23", 0)
    found["dossier.rejected"] = results.get("22", 0)
    found["dossier.cancelled"] = results.get("24", 0)
    return +found


def by_dossier(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Received events grouped by their dossier (subject and procedure), in arrival order."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        grouped.setdefault(str(event["subject"]), []).append(event)
    return grouped


def check(
    name: str,
    received: list[Mapping[str, Any]],
    nsw_state: Mapping[str, Any],
    flags: Mapping[str, Declared],
    counts: Mapping[str, int],
) -> list[str]:
    """What is wrong with what subscriber `name` received ([] when it is exactly what is implied)."""
    problems: list[str] = []
    if counts.get("conflicts"):
        problems.append(f"{name}: {counts['conflicts']} events changed between deliveries")
    grouped = by_dossier(received)
    for reference, dossier in nsw_state.get("dossiers", {}).items():
        want = implied(dossier, flags.get(reference, Declared()))
        events = grouped.pop(reference, [])
        got = Counter(str(e["type"]) for e in events)
        if got != want:
            problems.append(f"{name}: {reference} received {dict(got)}, implied {dict(want)}")
        sequences = [int(e["data"]["sequence"]) for e in events]
        if sequences != list(range(1, len(events) + 1)):
            problems.append(f"{name}: {reference} events arrived in sequence {sequences}")
    for reference in grouped:
        problems.append(f"{name}: events for {reference}, unknown to the NSW")
    return problems


def table(name: str, received: list[Mapping[str, Any]], out: TextIO) -> None:
    """Each dossier's events as subscriber `name` received them, in order."""
    grouped = by_dossier(received)
    print(f"\nEvents received by {name} ({len(received)}):", file=out)
    for reference, events in grouped.items():
        actions = " ".join(str(e["type"]).removeprefix("dossier.") for e in events)
        print(f"  {reference:<18} {actions}", file=out)


def delete_amqp(url: str, exchange: str, queue: str) -> None:
    """Delete the demo's own exchange and queue (names of this run's; nothing else is touched)."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except Exception:
        return
    try:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
    finally:
        connection.close()
