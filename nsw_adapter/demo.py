"""`nsw-adapter demo`: both simulators with moderate faults, the adapter, ~30 realistic dossiers.

The NSW simulator pushes cargo ships, a ferry, a cruise ship with 5,000 passengers, an
amendment after submission, a cancellation, a ship the Border Guard asks more about (a
supplement request, answered by the NSW simulator acting as the agent, then cleared) and a
few invalid dossiers; the adapter runs on
a temporary SQLite store. One progress line a second; when every dossier has its final
Result at the NSW, a summary table. Exit 0 only if nothing was lost or doubled.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from nsw_adapter.logging import configure_logging
from nsw_adapter.resources import sample_path

PORTAL_FAULTS = "seed=7,http503=0.03,unavailable=0.03,reset=0.01,latency=0.002-0.02"
NSW_FAULTS = "seed=8,http503=0.03,unavailable=0.02"
INVALID_SAMPLES = ("E-IMO", "E-DOC-EXPIRED", "E-MASTER", "E-COUNT")
_FINAL_NAMES = {"23": "cleared", "22": "rejected", "24": "cancelled"}
SUPPLEMENTED = "cargo, asked for more"


@dataclass
class Planned:
    """One dossier of the demo: what it is and what should happen to it."""

    reference: str
    kind: str
    persons: int
    then: str | None = None  # "amend" / "cancel" once its 21 is at the NSW
    done: bool = False


@dataclass
class Check:
    """What the end state proves (or not)."""

    problems: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.problems.append(text)


def _sent_at(index: int) -> datetime:
    # The generator's messageIds are the send time plus 5 random digits: spread the send times.
    from nsw_adapter.fixtures import DEFAULT_SENT_AT

    return DEFAULT_SENT_AT + timedelta(seconds=30 * index)


def plan(cargo: int = 22) -> list[tuple[Planned, list[tuple[str, bytes]]]]:
    """The dossiers to push: generated ships of every kind plus invalid contract samples."""
    from nsw_adapter.fixtures import generate_dossier

    dossiers: list[tuple[Planned, list[tuple[str, bytes]]]] = []
    for index in range(cargo):
        crew = 8 + (index * 7) % 18
        arms = 2 if index % 5 == 0 else 0
        stowaways = 1 if index % 9 == 4 else 0
        departure = index % 4 == 3
        reference = f"HPH-2026-{500 + index:06d}"
        files = generate_dossier(
            crew=crew, arms=arms, stowaways=stowaways, seed=100 + index, reference=reference,
            document_type="2" if departure else "1", sent_at=_sent_at(index),
        )  # fmt: skip
        kind = "cargo, departure" if departure else "cargo"
        then = "amend" if index == 1 else "cancel" if index == 2 else None
        if then:
            kind = f"cargo, {'amended' if then == 'amend' else 'cancelled'}"
        if index == 5:
            kind = "cargo, watchlisted"
        if index == 6 and cargo > 6:
            kind = SUPPLEMENTED
        dossiers.append((Planned(reference, kind, crew + stowaways, then), files))
    ferry = "HON-2026-000601"
    dossiers.append(
        (
            Planned(ferry, "passenger ferry", 12 + 300),
            generate_dossier(crew=12, passengers=300, seed=7, reference=ferry, sent_at=_sent_at(90)),
        )
    )
    cruise = "SGN-2026-000602"
    dossiers.append(
        (
            Planned(cruise, "cruise ship", 180 + 5000),
            generate_dossier(crew=180, passengers=5000, seed=8, reference=cruise, sent_at=_sent_at(91)),
        )
    )
    return dossiers


def watchlisted(dossiers: list[tuple[Planned, list[tuple[str, bytes]]]]) -> set[str]:
    """The document number of one crew member of the "watchlisted" ship: the portal rejects it."""
    return _crew_document(dossiers, "watchlisted", 3)


def supplemented(dossiers: list[tuple[Planned, list[tuple[str, bytes]]]]) -> set[str]:
    """The document number of one crew member of the ship asked for more: the portal's first
    answer on it is a supplement request."""
    return _crew_document(dossiers, SUPPLEMENTED, 2)


def _crew_document(
    dossiers: list[tuple[Planned, list[tuple[str, bytes]]]], kind: str, position: int
) -> set[str]:
    from lxml import etree

    for item, files in dossiers:
        if item.kind.endswith(kind):
            crew = next(data for name, data in files if name.startswith("51"))
            path = f"Body/Content/CrewLists/CrewList[{position}]/PassportNumber"
            number = etree.fromstring(crew).findtext(path)
            return {number.strip()} if number else set()
    return set()


def _invalid() -> list[tuple[Planned, list[Any]]]:
    from nsw_adapter.simulators.dossiers import load_folder

    found: list[tuple[Planned, list[Any]]] = []
    for code in INVALID_SAMPLES:
        # In the checkout or, installed, in the wheel's copy: a missing one is an error, never a
        # smaller demo (the summary would still say nothing was lost).
        folder = sample_path("nsw", "invalid", code)
        if not folder.is_dir():
            raise FileNotFoundError(f"the demo's sample dossier {folder} is missing")
        for documents in load_folder(folder):
            found.append((Planned(documents[0].reference, f"invalid ({code})", 0), documents))
    return found


def verify(planned: list[Planned], nsw_state: dict[str, Any], portal_state: dict[str, Any]) -> Check:
    """Nothing lost (a final Result each), nothing doubled (one live declaration, one Result per function)."""
    check = Check()
    at_nsw = nsw_state.get("dossiers", {})
    at_portal = portal_state.get("dossiers", {})
    for item in planned:
        dossier = at_nsw.get(item.reference)
        if dossier is None:
            check.fail(f"{item.reference}: unknown to the NSW")
            continue
        wanted = ("24",) if item.then == "cancel" else ("22",) if "watchlisted" in item.kind else ("23",)
        if item.kind.startswith("invalid"):
            wanted = ("22",)
        if dossier.get("final") not in wanted:
            check.fail(f"{item.reference}: final result {dossier.get('final')}, expected {'/'.join(wanted)}")
        if dossier.get("result_rejects"):
            check.fail(f"{item.reference}: the NSW refused results {dossier['result_rejects']}")
        results: dict[str, int] = dossier.get("results", {})
        asked = item.kind == SUPPLEMENTED
        for function, count in results.items():
            limit = 1
            if item.then == "amend" and function in ("21", "22", "23"):
                # One 21 per version, and a decision per version when the first was decided
                # before the amendment arrived (its 21 slow to reach the NSW): both are due.
                limit = 2
            elif asked and function == "21":
                limit = 2  # the request's receipt is superseded by the answer's: no decision of its own
            if count > limit:
                check.fail(f"{item.reference}: {count} results {function}")
        if asked and results.get("25") != 1:
            check.fail(f"{item.reference}: {results.get('25', 0)} supplement requests (25), expected 1")
        portal = at_portal.get(item.reference)
        if item.kind.startswith("invalid"):
            if portal is not None:
                check.fail(f"{item.reference}: an invalid dossier reached the portal")
            continue
        if portal is None:
            if item.then != "cancel":
                check.fail(f"{item.reference}: never reached the portal")
            continue
        live = [r for r in portal.get("receipts", []) if not r.get("superseded_by")]
        if len(live) != 1:
            check.fail(f"{item.reference}: {len(live)} live declarations at the portal")
    return check


def _results(dossier: dict[str, Any]) -> str:
    order = ("21", "25", "23", "22", "24")
    results: dict[str, int] = dossier.get("results", {})
    return " ".join(f"{f}x{results[f]}" if results[f] > 1 else f for f in order if results.get(f))


def summary(planned: list[Planned], nsw_state: dict[str, Any], out: TextIO) -> None:
    """The per-dossier table."""
    at_nsw = nsw_state.get("dossiers", {})
    header = f"{'reference':<18} {'ship':<22} {'persons':>7}  {'final':<10} results"
    print(header, file=out)
    print("-" * len(header), file=out)
    for item in planned:
        dossier = at_nsw.get(item.reference, {})
        final = dossier.get("final")
        name = _FINAL_NAMES.get(final or "", "-") if final else "-"
        persons = str(item.persons) if item.persons else "-"
        print(f"{item.reference:<18} {item.kind:<22} {persons:>7}  {name:<10} {_results(dossier)}", file=out)


def run_demo(
    *,
    dossiers: int | None = None,
    timeout: float = 55.0,
    faults: str | None = None,
    out: TextIO = sys.stdout,
    workdir: Path | None = None,
    on_state: Callable[[dict[str, Any]], None] | None = None,
    amqp_url: str | None = None,
) -> int:
    """Run the demo; 0 when every dossier has its final Result and nothing was lost or doubled, and
    each event subscriber (the reference webhook subscriber; with `amqp_url`, an AMQP queue too)
    received exactly the events the simulators' state implies."""
    from nsw_adapter import demo_events
    from nsw_adapter.simulators import PortalSimulator
    from nsw_adapter.simulators.nsw import NswSimulator, all_final
    from nsw_adapter.simulators.subscriber import DEMO_SECRET, AmqpSource, SubscriberSimulator
    from nsw_adapter.stack import AdapterStack, fast_settings

    folder = workdir or Path(tempfile.mkdtemp(prefix="nsw-adapter-demo-"))
    log_path = folder / "adapter.log"
    log_file = log_path.open("w", encoding="utf-8")
    configure_logging("INFO", "json", log_file)
    started = time.monotonic()
    print("Preparing dossiers ...", file=out, flush=True)
    generated = plan(22 if dossiers is None else dossiers)
    invalid = _invalid()
    planned = [p for p, _ in generated] + [p for p, _ in invalid]
    print(
        f"{len(planned)} dossiers ({sum(p.persons for p in planned)} persons); store and log in {folder}",
        file=out,
        flush=True,
    )
    flags = {p.reference: demo_events.declared(data for _, data in files) for p, files in generated}
    flags.update({p.reference: demo_events.declared(d.data for d in docs) for p, docs in invalid})
    subscribers = demo_events.subscriber_settings("http://127.0.0.1:0", DEMO_SECRET, amqp_url)
    amqp = subscribers[1] if amqp_url is not None else None
    source = None if amqp is None else AmqpSource(amqp["url"], amqp["queue"], amqp["exchange"])
    received: dict[str, dict[str, Any]] = {}
    try:
        with (
            PortalSimulator(
                decision_delay=1.0,
                faults=PORTAL_FAULTS if faults is None else faults,
                watchlist=watchlisted(generated),
                supplements=supplemented(generated),
            ) as portal,
            NswSimulator(
                faults=NSW_FAULTS,
                duplicates=0.1,
                shuffle=True,
                seed=3,
                backoff_max=0.5,
                answer_supplements=True,
            ) as nsw,
            SubscriberSimulator(secret=DEMO_SECRET) as webhook,
            SubscriberSimulator(amqp=source) as queue,
        ):
            subscribers[0]["url"] = webhook.url
            listeners = {demo_events.WEBHOOK: webhook, demo_events.AMQP: queue}
            settings = fast_settings(
                f"sqlite:///{folder}/demo.db", portal.url, nsw.url, subscribers=subscribers
            )
            with AdapterStack(settings) as stack:
                nsw.agency_url = stack.intake_url
                print(f"Portal {portal.url}  NSW {nsw.url}  adapter intake {stack.intake_url}", file=out)
                print(f"Event subscribers: {', '.join(s['name'] for s in subscribers)}", file=out)
                for _item, files in generated:
                    nsw.push_dossier(files)
                nsw.push_documents([d for _, documents in invalid for d in documents])
                state = _follow(nsw, portal, planned, started, timeout, out, all_final)
                _events_settled(stack, started, timeout)
                portal_state = portal.admin_state()
                received = {s["name"]: listeners[s["name"]].admin_state() for s in subscribers}
                if on_state is not None:
                    on_state({"nsw": state, "portal": portal_state, "subscribers": received})
    finally:
        log_file.close()
        if amqp is not None:
            demo_events.delete_amqp(amqp["url"], amqp["exchange"], amqp["queue"])
    elapsed = time.monotonic() - started
    print(file=out)
    summary(planned, state, out)
    check = verify(planned, state, portal_state)
    for name, subscriber in received.items():
        events = [e["event"] for e in subscriber["events"]]
        demo_events.table(name, events, out)
        for problem in demo_events.check(name, events, state, flags, subscriber["counts"]):
            check.fail(problem)
    injected = sum(portal_state.get("injected", {}).values())
    duplicates = portal_state["counters"].get("duplicates", 0)
    requests = portal_state["counters"].get("supplement_requests", 0)
    answered = state.get("counters", {}).get("supplements_answered", 0)
    print(
        f"\n{len(planned)} dossiers in {elapsed:.1f} s; portal faults injected: {injected}; "
        f"repeated submissions answered with the first receipt: {duplicates}; "
        f"supplement requests: {requests} (answered by the agent: {answered})",
        file=out,
    )
    if check.problems:
        print("FAILED:", file=out)
        for problem in check.problems:
            print(f"  {problem}", file=out)
        return 1
    print("Every dossier has its final result at the NSW; nothing lost, nothing doubled.", file=out)
    print("Each subscriber received exactly the events the dossiers' results imply, in order.", file=out)
    return 0


def _events_settled(stack: Any, started: float, timeout: float) -> None:
    """Wait (within the demo's time) until every event is delivered to each subscriber."""
    while time.monotonic() - started < timeout:
        stats = stack.store.stats(stack.store.now())
        if stats.events_unfanned == 0 and all(f.pending == 0 for f in stats.subscribers.values()):
            return
        time.sleep(0.2)


def _settled(nsw: Any, item: Planned) -> bool:
    """An amended dossier (or one asked for more) is settled only once its new version has a
    decision after its own 21."""
    if item.then != "amend" and item.kind != SUPPLEMENTED:
        return True
    functions = [r.function for r in nsw.service.state.dossiers[item.reference].results]
    return functions.count("21") == 2 and functions[-1] in ("22", "23")


def _follow(
    nsw: Any,
    portal: Any,
    planned: list[Planned],
    started: float,
    timeout: float,
    out: TextIO,
    all_final: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Print progress once a second, push the amendment and cancellation when due, stop when all is final."""
    next_line = 0.0
    while True:
        state: dict[str, Any] = nsw.admin_state()
        dossiers = state.get("dossiers", {})
        for item in planned:
            results = dossiers.get(item.reference, {}).get("results", {})
            if item.then and not item.done and results.get("21"):
                if item.then == "amend":
                    nsw.push_amendment(item.reference, "51")
                else:
                    nsw.push_cancellation(item.reference)
                item.done = True
        pending_actions = any(p.then and not p.done for p in planned)
        finished = not pending_actions and all_final(state) and all(_settled(nsw, p) for p in planned)
        elapsed = time.monotonic() - started
        if elapsed >= next_line or finished:
            next_line = elapsed + 1.0
            final = sum(1 for d in dossiers.values() if d.get("final"))
            results = sum(sum(d.get("results", {}).values()) for d in dossiers.values())
            counters = portal.admin_state()["counters"]
            print(
                f"[{elapsed:5.1f}s] pushed {state['counters'].get('acknowledged', 0):>3} messages | "
                f"portal: {counters.get('submissions', 0):>3} submitted, "
                f"{counters.get('cleared', 0):>3} cleared, {counters.get('rejected', 0):>2} rejected, "
                f"{counters.get('supplement_requests', 0)} asked for more | "
                f"NSW: {results:>3} results, "
                f"{final:>3}/{len(planned)} dossiers final",
                file=out,
                flush=True,
            )
        if finished or elapsed > timeout:
            return state
        time.sleep(0.2)
