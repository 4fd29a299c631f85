"""Helpers for the end-to-end tests: simulators plus the adapter, and what the NSW received."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from nsw_adapter.fixtures import DEFAULT_SENT_AT, generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.stack import AdapterStack, fast_settings


@dataclass
class Run:
    portal: PortalSimulator
    nsw: NswSimulator
    stack: AdapterStack


@contextmanager
def running(
    store_url: str,
    *,
    portal_faults: str | None = None,
    nsw_faults: str | None = None,
    decision_delay: float = 0.3,
    watchlist: set[str] | None = None,
    supplements: set[str] | None = None,
    **worker: Any,
) -> Iterator[Run]:
    """Both simulators and the adapter, wired together over loopback sockets; a dossier with a
    document number in `supplements` is asked for more, and the NSW simulator answers."""
    with (
        PortalSimulator(
            decision_delay=decision_delay, faults=portal_faults, watchlist=watchlist, supplements=supplements
        ) as portal,
        NswSimulator(
            faults=nsw_faults,
            duplicates=0.1,
            shuffle=True,
            seed=5,
            backoff_max=0.5,
            answer_supplements=bool(supplements),
        ) as nsw,
    ):
        settings = fast_settings(store_url, portal.url, nsw.url, **worker)
        with AdapterStack(settings) as stack:
            nsw.agency_url = stack.intake_url
            yield Run(portal, nsw, stack)


def sent_at(index: int) -> datetime:
    """A distinct send time per dossier: the generator's messageIds are the time plus 5 random
    digits, which collide across a few hundred dossiers sent at the same second."""
    return DEFAULT_SENT_AT + timedelta(seconds=30 * index)


def cargo(count: int, *, start: int = 0, prefix: str = "HPH-2026-") -> list[list[tuple[str, bytes]]]:
    """`count` small valid dossiers with distinct references and messageIds."""
    return [
        generate_dossier(
            crew=5 + i % 7, seed=start + i, reference=f"{prefix}{start + i:06d}", sent_at=sent_at(start + i)
        )
        for i in range(count)
    ]


def wait_final(nsw: NswSimulator, timeout: float) -> dict[str, Any]:
    return nsw.wait_all_final(timeout=timeout, interval=0.2)


def result_functions(nsw: NswSimulator, reference: str) -> list[str]:
    """The functions of the Results the NSW accepted for a dossier, in the order they arrived."""
    return [r.function for r in nsw.service.state.dossiers[reference].results]


def live_declarations(portal_state: dict[str, Any], reference: str) -> int:
    dossier = portal_state["dossiers"].get(reference)
    if dossier is None:
        return 0
    return sum(1 for r in dossier["receipts"] if not r.get("superseded_by"))


def personal_data(dossiers: Sequence[Sequence[tuple[str, bytes]]]) -> set[str]:
    """Every name and document number in the input (long enough not to occur by chance in ids)."""
    found: set[str] = set()
    tags = (
        "FamilyName",
        "GivenName",
        "PassportNumber",
        "SerialNumberOfIdentity",
        "VisaNumber",
        "NameOfMaster",
    )
    for files in dossiers:
        for _name, data in files:
            root = etree.fromstring(data)
            for tag in tags:
                for element in root.iter(tag):
                    value = (element.text or "").strip()
                    if len(value) >= 5:
                        found.add(value)
    return found


def sample_dossier(samples: Path, folder: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((samples / folder).glob("*.xml"))]
