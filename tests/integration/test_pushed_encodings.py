"""A pushed document is read as the characters the NSW sent, whatever its string's declaration says.

`requestMessage` is an xs:string: the XML declaration at its head (.NET writes utf-16, old Java
ISO-8859-1, Vietnamese Windows software windows-1258) describes bytes that no longer exist.
Each case pushes a dossier whose names carry Vietnamese and other diacritics, written as such
a client writes it, and follows it to the portal: answered 99, never a 22 afterwards, every
NameAsDeclared as typed and every FullName as the contract's rule gives. The same holds for a
dead letter brought back, and for rows an older version stored with the declaration left in.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
import structlog
from lxml import etree

from nsw_adapter.envelope import read_message
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.intake import to_incoming
from nsw_adapter.logging import configure_logging
from nsw_adapter.namespaces import PORTAL_NS
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.simulators.nsw_push import StringStyle
from nsw_adapter.stack import AdapterStack, fast_settings
from nsw_adapter.store import DeadLetter, open_store
from nsw_adapter.store.audit import PORTAL
from tests.support.e2e import result_functions, sent_at, wait_final

#: (FamilyName, GivenName, the FullName the contract's rule gives) for crew 2.. of each dossier.
TYPED = [
    ("Phạm", "Minh Tuấn", "PHAM MINH TUAN"),
    ("Nguyễn Thị", "Ánh Tuyết", "NGUYEN THI ANH TUYET"),
    ("Đặng-Ngô", "Văn Đức", "DANG NGO VAN DUC"),
    ("O'Brien", "Zoë Ångström", "OBRIEN ZOE ANGSTROM"),
]

#: How Java, .NET, node and Vietnamese Windows clients write the string part.
STYLES = {
    "UTF-16": StringStyle(encoding="UTF-16"),
    "utf-16": StringStyle(encoding="utf-16"),
    "UTF-16LE": StringStyle(encoding="UTF-16LE"),
    "ISO-8859-1": StringStyle(encoding="ISO-8859-1"),
    "windows-1252": StringStyle(encoding="windows-1252"),
    "windows-1258": StringStyle(encoding="windows-1258"),
    "US-ASCII": StringStyle(encoding="US-ASCII"),
    "x-foo": StringStyle(encoding="x-foo"),
    "none": StringStyle(encoding=""),
    "BOM": StringStyle(encoding="utf-16", bom=True),
    "CDATA": StringStyle(encoding="ISO-8859-1", cdata=True),
}
P = f"{{{PORTAL_NS}}}"
T = TypeVar("T")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'adapter.db'}"


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    configure_logging("WARNING", stream=io.StringIO())
    yield
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


def dossier_with_names(index: int) -> list[tuple[str, bytes]]:
    """A valid dossier whose crew after the master carry the TYPED names (UTF-8 envelope files)."""
    files = generate_dossier(
        crew=1 + len(TYPED), seed=index, reference=f"HPH-2026-{index:06d}", sent_at=sent_at(index)
    )
    named = []
    for name, data in files:
        root = etree.fromstring(data)
        crew_after_master = list(root.iter("CrewList"))[1:]
        for member, (family, given, _full) in zip(crew_after_master, TYPED, strict=False):
            member.find("FamilyName").text = family  # type: ignore[union-attr]
            member.find("GivenName").text = given  # type: ignore[union-attr]
        named.append((name, etree.tostring(root, xml_declaration=True, encoding="UTF-8")))
    return named


def typed_names(files: list[tuple[str, bytes]]) -> list[str]:
    """Every crew member's "FamilyName GivenName" as the agent typed it."""
    crew = next(data for name, data in files if name.startswith("51"))
    members = etree.fromstring(crew).iter("CrewList")
    return [" ".join(filter(None, (m.findtext("FamilyName"), m.findtext("GivenName")))) for m in members]


def submitted_persons(stack: AdapterStack, reference: str) -> list[tuple[str, str]]:
    """(NameAsDeclared, FullName) of every Person in the submission the adapter sent for a dossier."""
    view = stack.store.describe(reference, "1")
    assert view is not None, reference
    sent = [m.payload for m in view.messages if m.direction == PORTAL and m.payload]
    assert len(sent) == 1, reference
    root = etree.fromstring(sent[0])
    return [
        (p.findtext(f"{P}NameAsDeclared") or "", p.findtext(f"{P}FullName") or "")
        for p in root.iter(f"{P}Person")
    ]


def assert_submitted_as_typed(stack: AdapterStack, reference: str, files: list[tuple[str, bytes]]) -> None:
    persons = submitted_persons(stack, reference)
    assert [declared for declared, _ in persons] == typed_names(files), reference
    assert [full for _, full in persons[1:]] == [full for _, _, full in TYPED], reference


def dead_dossiers(stack: AdapterStack) -> list[DeadLetter]:
    return [letter for letter in stack.store.dead_letters() if letter.kind == "dossier"]


def receipt_of(stack: AdapterStack, reference: str) -> str | None:
    view = stack.store.describe(reference, "1")
    return None if view is None else view.receipt_number


@pytest.mark.timeout(120)
def test_every_declared_encoding_reaches_the_portal_as_typed(store_url: str) -> None:
    """Pushed as each client writes its string, a dossier is answered 99, cleared, its names as typed."""
    dossiers = {label: dossier_with_names(i) for i, label in enumerate(STYLES, start=1)}
    with (
        PortalSimulator(decision_delay=0.2) as portal,
        NswSimulator(seed=3, backoff_max=0.5) as nsw,
        AdapterStack(fast_settings(store_url, portal.url, nsw.url)) as stack,
    ):
        nsw.agency_url = stack.intake_url
        references = {}
        for label, files in dossiers.items():
            nsw.service.config.push.style = STYLES[label]
            references[label] = nsw.push_dossier(files)
            nsw.wait_pushed(timeout=30)
        state = wait_final(nsw, timeout=60)
        for label, reference in references.items():
            pushed = state["dossiers"][reference]
            assert pushed["rejected"] == [], label
            assert len(pushed["acknowledged"]) == len(dossiers[label]), label
            assert result_functions(nsw, reference) == ["21", "23"], label
            assert_submitted_as_typed(stack, reference, dossiers[label])


@pytest.mark.timeout(120)
def test_a_dead_letter_brought_back_is_read_the_same_way(store_url: str) -> None:
    """A dossier dead-lettered (the portal failing past its retry budget) and retried is submitted with
    the names as typed."""
    labels = ["UTF-16", "ISO-8859-1", "windows-1258", "BOM"]
    dossiers = {label: dossier_with_names(20 + i) for i, label in enumerate(labels)}
    with (
        PortalSimulator(decision_delay=0.2, faults="http503=1") as failing,
        PortalSimulator(decision_delay=0.2) as portal,
        NswSimulator(seed=4, backoff_max=0.5) as nsw,
    ):
        settings = fast_settings(store_url, portal.url, nsw.url)
        down = settings.portal.model_copy(update={"url": failing.url, "retry_budget_seconds": 1.0})
        with AdapterStack(settings.model_copy(update={"portal": down})) as stack:
            nsw.agency_url = stack.intake_url
            references = {}
            for label, files in dossiers.items():
                nsw.service.config.push.style = STYLES[label]
                references[label] = nsw.push_dossier(files)
                nsw.wait_pushed(timeout=30)
            dead = _wait_for(
                lambda: letters if len(letters := dead_dossiers(stack)) == len(labels) else None,
                "every dossier dead-lettered",
            )
        with AdapterStack(settings) as stack:
            for letter in dead:
                assert stack.store.retry_dead_letter("dossier", letter.id)
            wait_final(nsw, timeout=60)
            for label, reference in references.items():
                assert "22" not in result_functions(nsw, reference), label
                assert result_functions(nsw, reference)[-1] == "23", label
                assert_submitted_as_typed(stack, reference, dossiers[label])


@pytest.mark.timeout(120)
def test_rows_stored_by_an_older_version_with_their_declaration_are_read_as_received(store_url: str) -> None:
    """A row holding the string's UTF-8 with its ISO-8859-1 or UTF-16 declaration is submitted as typed."""
    store = open_store(store_url, migrate=True)
    dossiers = {"ISO-8859-1": dossier_with_names(40), "UTF-16": dossier_with_names(41)}
    try:
        for label, files in dossiers.items():
            for _name, data in files:
                text = STYLES[label].text(data)
                legacy = text.encode("utf-8")  # what intake stored before the one reading
                message = read_message(text)
                store.receive(dataclasses.replace(to_incoming(message, "0" * 64), raw=legacy))
    finally:
        store.close()
    with (
        PortalSimulator(decision_delay=0.2) as portal,
        NswSimulator(seed=5) as nsw,
        AdapterStack(fast_settings(store_url, portal.url, nsw.url)) as stack,
    ):
        for files in dossiers.values():
            reference = read_message(files[0][1]).header.reference
            assert reference is not None
            _wait_for(partial(receipt_of, stack, reference), f"a receipt for {reference}")
            assert_submitted_as_typed(stack, reference, files)


def _wait_for(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
