"""The dossier generator: valid, varied, deterministic dossiers, and their follow-up messages."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from lxml import etree

from nsw_adapter.envelope import VIETNAM, read_message
from nsw_adapter.fixtures import amend, cancel, generate_dossier
from nsw_adapter.names import full_name
from nsw_adapter.xml import schema
from tests.support.translation import run


@pytest.mark.parametrize("seed", range(12))
def test_generated_dossiers_pass_everything(seed: int) -> None:
    """Every message validates against envelope.xsd and the dossier translates without a problem."""
    files = generate_dossier(
        crew=1 + seed * 3,
        passengers=seed * 5,
        arms=seed % 3,
        stowaways=seed % 2,
        seed=seed,
        document_type="12"[seed % 2],
    )
    for _, data in files:
        assert schema("envelope").validate(etree.fromstring(data))
        assert read_message(data).problems == ()
    assert run([data for _, data in files]).problems == []


def test_file_names_per_document() -> None:
    """One file per document, named by type; documents with nothing to list are not sent."""
    names = [name for name, _ in generate_dossier(crew=3, passengers=2, arms=1, stowaways=1)]
    assert names == [
        "50-general-declaration.xml",
        "51-crew-list.xml",
        "52-passenger-list.xml",
        "64-arms-declaration.xml",
        "65-stowaway-declaration.xml",
    ]
    assert [n for n, _ in generate_dossier(crew=3)] == ["50-general-declaration.xml", "51-crew-list.xml"]


def test_deterministic_per_seed() -> None:
    """The same arguments give the same bytes; another seed gives another dossier."""
    assert generate_dossier(crew=9, passengers=9, seed=5) == generate_dossier(crew=9, passengers=9, seed=5)
    assert generate_dossier(crew=9, seed=5) != generate_dossier(crew=9, seed=6)


def test_data_is_varied() -> None:
    """Across seeds: many nationalities, Vietnamese diacritics, mononyms, several document types, offsets."""
    nationalities: set[str | None] = set()
    doc_types: set[str | None] = set()
    times: set[str] = set()
    names: list[tuple[str | None, str | None]] = []
    for seed in range(30):
        files = dict(generate_dossier(crew=20, passengers=20, seed=seed))
        gd = etree.fromstring(files["50-general-declaration.xml"])
        times.add((gd.findtext(".//ArrivalOrDepartureTime") or "")[19:])
        for data in (files["51-crew-list.xml"], files["52-passenger-list.xml"]):
            root = etree.fromstring(data)
            nationalities.update(e.text for e in root.iter("Nationality"))
            doc_types.update(e.text for e in root.iter("PassportTypeCode", "TypeOfIdentity"))
            names.extend(
                (e.findtext("FamilyName"), e.findtext("GivenName"))
                for e in root.iter("CrewList", "Passenger")
            )
    assert len(nationalities) >= 12
    assert {"P", "S", "B", "O"} <= doc_types
    assert {"", "Z"} <= times
    assert len(times) >= 4
    assert any("Đ" in (f or "") or "ễ" in (f or "") or "Đ" in (g or "") for f, g in names)
    assert any(not g for _, g in names)  # mononyms
    assert any(not (f or "").isascii() and full_name(f, g).isascii() for f, g in names)


def test_latin_only_option() -> None:
    """native_scripts=False keeps every name in Latin letters."""
    files = generate_dossier(crew=30, passengers=200, seed=1, native_scripts=False)
    for _, data in files:
        for element in etree.fromstring(data).iter("FamilyName", "GivenName"):
            assert all(ord(c) < 0x370 or 0x1E00 <= ord(c) < 0x1F00 for c in element.text or "")


def test_reference_sent_at_and_departure() -> None:
    """The dossier number, sending time and direction are the caller's."""
    moment = datetime(2027, 1, 2, 3, 4, 5, tzinfo=VIETNAM)
    files = generate_dossier(crew=2, reference="SIM-1/A", sent_at=moment, document_type="2")
    header = read_message(files[0][1]).header
    assert header.reference == "SIM-1/A"
    assert header.send_date == moment
    assert header.document_type == "2"
    assert run([d for _, d in files]).ok


@pytest.mark.parametrize(
    "kwargs",
    [{"crew": 0}, {"crew": 1, "document_type": "3"}, {"crew": 1, "reference": "bad ref"}],
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    """No master, an unknown direction or a malformed dossier number are ValueErrors."""
    with pytest.raises(ValueError):
        generate_dossier(**kwargs)  # type: ignore[arg-type]


def test_amend_and_cancel() -> None:
    """amend() makes a later 02 naming the replaced message; cancel() a 03 naming the General Declaration."""
    files = generate_dossier(crew=4, seed=2)
    original = read_message(files[1][1]).header
    name, data = amend(files[1])
    header = read_message(data).header
    assert name == "51-crew-list-amendment.xml"
    assert (header.function, header.pre_reference, header.type) == ("02", original.message_id, "51")
    assert header.send_date > original.send_date
    assert header.message_id != original.message_id
    _, data = cancel(files, reason="Owner cancelled the call.")
    message = read_message(data)
    assert (message.header.function, message.header.type) == ("03", "50")
    assert message.header.pre_reference == read_message(files[0][1]).header.message_id
    assert message.content.findtext("Reason") == "Owner cancelled the call."


def test_message_ids_are_unique_across_dossiers_sent_in_the_same_second() -> None:
    """Dossiers generated with the same send time never share a messageId (the store would drop one)."""
    ids: list[bytes] = []
    for index in range(200):
        dossier = generate_dossier(crew=2, passengers=1, seed=index, reference=f"HPH-2026-{index:06d}")
        follow_ups = [amend(dossier[1]), cancel(dossier)]
        for _, data in [*dossier, *follow_ups]:
            found = re.search(rb"<messageId>([^<]+)</messageId>", data)
            assert found is not None
            ids.append(found.group(1))
    assert len(ids) == len(set(ids))
