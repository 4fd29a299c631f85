"""translate(): the public API, documents in effect, dossier-level checks and determinism."""

from __future__ import annotations

import dataclasses
import random

import pytest
from lxml import etree

import nsw_adapter
from nsw_adapter import Lineage, Problem, Translation, translate
from nsw_adapter.fixtures import amend, cancel, generate_dossier
from tests.support.translation import TODAY, codes, doc_type, edit, generated, run, sample, set_text

NS = {"bgp": "urn:vn:bienphong:portal:1"}


def test_public_api() -> None:
    """The package exports exactly translate, Translation, Problem and Lineage."""
    assert sorted(nsw_adapter.__all__) == ["Lineage", "Problem", "Translation", "translate"]
    assert nsw_adapter.translate is translate


def test_translation_is_frozen_and_ok() -> None:
    """A Translation cannot be changed; ok means no problems."""
    result = run(generated())
    assert isinstance(result, Translation)
    assert result.ok
    assert isinstance(result.lineage, Lineage)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.submission = None  # type: ignore[misc]


def test_deterministic_output() -> None:
    """Same documents in any order give byte-identical submissions and lineage."""
    docs = generated(crew=12, passengers=30, stowaways=2, arms=3, seed=3)
    first = run(docs)
    shuffled = list(docs)
    random.Random(1).shuffle(shuffled)
    second = run(shuffled)
    assert first.submission == second.submission
    assert first.lineage is not None
    assert second.lineage is not None
    assert first.lineage.to_bytes() == second.lineage.to_bytes()


def test_client_message_id_and_supersedes_are_written() -> None:
    """ClientMessageId and Supersedes come from the caller."""
    result = run(generated(), client_message_id="a-1:b_2.c", supersedes="CKCHPG-2026-004517")
    assert result.submission is not None
    root = etree.fromstring(result.submission)
    assert root.findtext("bgp:ClientMessageId", namespaces=NS) == "a-1:b_2.c"
    assert root.findtext("bgp:Supersedes", namespaces=NS) == "CKCHPG-2026-004517"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "-leading"])
def test_bad_client_message_id_is_a_caller_error(bad: str) -> None:
    """A ClientMessageId the portal would refuse is a ValueError, not a dossier problem."""
    with pytest.raises(ValueError):
        translate(generated(), client_message_id=bad)


def test_bad_supersedes_is_a_caller_error() -> None:
    """Supersedes must look like a portal receipt number."""
    with pytest.raises(ValueError):
        translate(generated(), client_message_id="x", supersedes="not a receipt")


def test_amendment_takes_effect_by_send_date_not_file_name() -> None:
    """The latest 01/02 of each type by sendDate is in effect; an older amendment does not win."""
    files = generate_dossier(crew=5, seed=4)
    crew = files[1]
    root = etree.fromstring(crew[1])
    new_content = root.find("Body/Content/CrewLists")
    assert new_content is not None
    member = new_content.find("CrewList[3]/PlaceOfBirth")
    assert member is not None
    member.text = "Amended Town"
    later = amend(crew, content=new_content, minutes_later=5)
    result = run([later[1], *(data for _, data in files)])
    assert result.submission is not None
    assert b"Amended Town" in result.submission
    assert result.message_ids[1] != etree.fromstring(crew[1]).findtext("Header/Reference/messageId")

    earlier = amend(crew, content=new_content, minutes_later=-5)
    result = run([earlier[1], *(data for _, data in files)])
    assert result.submission is not None
    assert b"Amended Town" not in result.submission


def test_cancellation_withdraws_the_dossier() -> None:
    """A 03 among the messages: cancelled, nothing to submit, no problems."""
    files = generate_dossier(crew=5, seed=5)
    result = run([data for _, data in files] + [cancel(files)[1]])
    assert result.cancelled
    assert result.ok
    assert result.submission is None
    assert result.lineage is None


def test_only_amendments_is_an_unknown_dossier() -> None:
    """A dossier with only 02/03 messages is E-UNKNOWN-DOSSIER for each message."""
    files = generate_dossier(crew=5, seed=6)
    result = run([amend(files[1])[1], cancel(files)[1]])
    assert codes(result) == ["E-UNKNOWN-DOSSIER", "E-UNKNOWN-DOSSIER"]
    assert {p.document_type for p in result.problems} == {"50", "51"}


def test_messages_of_two_dossiers_do_not_mix() -> None:
    """A message of another dossier among the files is E-ENVELOPE at its reference."""
    other = generated(seed=99, reference="HPH-2026-999999")
    result = run([*generated(seed=7, reference="HPH-2026-000001"), other[2]])
    assert codes(result) == ["E-ENVELOPE"]
    assert result.problems[0].xpath == "/Envelope/Header/Subject/reference"


def test_empty_input() -> None:
    """No messages at all is E-INCOMPLETE, not a crash."""
    assert codes(run([])) == ["E-INCOMPLETE"]


def test_envelope_problems_come_from_every_file() -> None:
    """Two unusable messages give both their E-ENVELOPE problems."""
    docs = edit(generated(), "50", set_text("Header/To/identity", "BTC"))
    docs = edit(docs, "51", set_text("Header/From/identity", "XYZ"))
    result = run(docs)
    assert codes(result) == ["E-ENVELOPE", "E-ENVELOPE"]


def test_schema_error_only_in_a_superseded_document_is_ignored() -> None:
    """A schema error in a document replaced by a valid amendment does not count."""
    files = generate_dossier(crew=5, seed=8)
    crew = files[1]
    fixed = amend(crew)
    broken = edit([crew[1]], "51", set_text("Body/Content/CrewLists/CrewList[2]/Gender", "X"))[0]
    result = run([files[0][1], broken, fixed[1]])
    assert result.ok


def test_unwritable_name_is_reported_not_submitted() -> None:
    """A family name folding to nothing (a lone modifier apostrophe) fails submission.xsd: E-SCHEMA there."""
    docs = edit(generated(), "52", set_text("Body/Content/PassengerList/Passenger[2]/FamilyName", "ʼ"))
    docs = edit(docs, "52", set_text("Body/Content/PassengerList/Passenger[2]/GivenName", ""))
    result = run(docs)
    assert result.submission is None
    assert codes(result) == ["E-SCHEMA"]
    assert result.problems[0].xpath == "/Envelope/Body/Content/PassengerList/Passenger[2]/FamilyName"
    assert result.problems[0].document_type == "52"


def test_problem_is_the_errors_module_problem() -> None:
    """Problems are nsw_adapter.Problem, with code, text, xpath and document_type."""
    result = run(sample("arrival-general-cargo"), today=TODAY.replace(year=1900))
    assert result.problems
    assert all(isinstance(p, Problem) for p in result.problems)
    assert {doc_type(d) for d in sample("arrival-general-cargo")} == {"50", "51", "64"}
