"""The translation CLI run in-process: exit codes, text and JSON output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nsw_adapter.cli import main
from tests.support.translation import SAMPLES, canonical

VALID = SAMPLES / "nsw" / "valid"
INVALID = SAMPLES / "nsw" / "invalid"


def _files(folder: Path) -> list[str]:
    return [str(p) for p in sorted(folder.glob("*.xml"))]


def test_validate_valid_files(capsys: pytest.CaptureFixture[str]) -> None:
    """Valid envelopes: exit 0, one `ok` line each."""
    files = _files(VALID / "arrival-passenger-ferry")
    assert main(["validate", *files, "--today", "2026-03-12"]) == 0
    assert capsys.readouterr().out.count(": ok") == len(files)


def test_validate_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Problems: exit 1 and a JSON array of {file, code, text, xpath, document_type}."""
    files = _files(INVALID / "E-DOB")
    assert main(["validate", *files, "--json", "--today", "2026-03-12"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "file": str(INVALID / "E-DOB" / "51-crew-list.xml"),
            "code": "E-DOB",
            "text": rows[0]["text"],
            "xpath": "/Envelope/Body/Content/CrewLists/CrewList[13]/DateOfBirth",
            "document_type": "51",
        }
    ]


def test_validate_checks_each_file_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """A lone Crew List is not E-INCOMPLETE under validate (that needs the dossier)."""
    assert main(["validate", str(VALID / "arrival-general-cargo" / "51-crew-list.xml")]) == 0


def test_validate_hostile_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """A hostile file is E-ENVELOPE and a schema fault E-SCHEMA, with exit 1."""
    hostile = str(SAMPLES / "nsw" / "hostile" / "billion-laughs.xml")
    schema_fault = str(INVALID / "E-SCHEMA" / "51-crew-list.xml")
    assert main(["validate", hostile, schema_fault, "--json"]) == 1
    assert [r["code"] for r in json.loads(capsys.readouterr().out)] == ["E-ENVELOPE", "E-SCHEMA"]


def test_validate_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist: exit 2, message on stderr."""
    assert main(["validate", "no/such/file.xml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    """Missing arguments are argparse usage errors (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["validate"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["fixtures", "--crew", "3"])
    assert exit_info.value.code == 2


def test_convert_writes_the_submission(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """convert writes exactly the sample submission to stdout."""
    expected = (SAMPLES / "bgp" / "submissions" / "arrival-general-cargo.xml").read_bytes()
    cid = re.search(rb"client_message_id ([\w-]+)", expected)
    assert cid is not None
    files = _files(VALID / "arrival-general-cargo")
    assert (
        main(["convert", *files, "--client-message-id", cid.group(1).decode(), "--today", "2026-03-12"]) == 0
    )
    assert canonical(capsysbinary.readouterr().out) == canonical(expected)


def test_convert_to_a_file_with_a_derived_id(tmp_path: Path) -> None:
    """-o writes the file; without --client-message-id the id is derived from the files (stable)."""
    files = _files(VALID / "departure-general-cargo")
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    assert main(["convert", *files, "-o", str(first)]) == 0
    assert main(["convert", *reversed(files), "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert b"<ClientMessageId>" in first.read_bytes()


def test_convert_problems(capsys: pytest.CaptureFixture[str]) -> None:
    """A dossier with problems: exit 1, each problem attributed to the file of its document."""
    assert main(["convert", *_files(INVALID / "E-SEQ"), "--json", "--today", "2026-03-12"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {r["code"] for r in rows} == {"E-SEQ"}
    assert {r["file"] for r in rows} == {str(INVALID / "E-SEQ" / "51-crew-list.xml")}


def test_convert_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json, one line per problem: file, code, XPath, text."""
    assert main(["convert", *_files(INVALID / "E-TAXCODE")]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith(
        str(INVALID / "E-TAXCODE" / "50-general-declaration.xml") + ": E-TAXCODE /Envelope/"
    )


def test_convert_cancelled_dossier(capsys: pytest.CaptureFixture[str]) -> None:
    """A cancelled dossier: nothing on stdout, a note on stderr, exit 0."""
    assert main(["convert", *_files(VALID / "cancellation")]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cancelled" in captured.err


def test_convert_bad_client_message_id(capsys: pytest.CaptureFixture[str]) -> None:
    """A ClientMessageId the portal would refuse is a usage error."""
    assert main(["convert", *_files(VALID / "arrival-general-cargo"), "--client-message-id", "a b"]) == 2


def test_mapping_check(capsys: pytest.CaptureFixture[str]) -> None:
    """The contract mapping is sound: exit 0, unmapped fields listed."""
    assert main(["mapping", "check"]) == 0
    out = capsys.readouterr().out
    assert "mapping is sound" in out
    assert "GeneralDeclaration.SignPlace" in out


def test_fixtures_writes_a_valid_dossier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fixtures writes one envelope per document; they validate and convert."""
    out = tmp_path / "dossier"
    args = ["fixtures", "--crew", "4", "--passengers", "3", "--arms", "1", "--stowaways", "1", "--seed", "9"]
    assert main([*args, "--out", str(out)]) == 0
    files = sorted(str(p) for p in out.iterdir())
    assert len(files) == 5
    capsys.readouterr()
    assert main(["validate", *files]) == 0
    assert main(["convert", *files, "-o", str(tmp_path / "submission.xml")]) == 0


def test_fixtures_bad_reference(tmp_path: Path) -> None:
    """A malformed dossier number is a usage error."""
    assert main(["fixtures", "--crew", "2", "--reference", "lower case", "--out", str(tmp_path)]) == 2


def test_validate_prints_the_texts_in_the_language_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """--lang vi prints each problem as agents read it in Vietnamese; the default is English."""
    files = _files(INVALID / "E-DOB")
    assert main(["validate", *files, "--json", "--today", "2026-03-12", "--lang", "vi"]) == 1
    [vi] = json.loads(capsys.readouterr().out)
    assert main(["validate", *files, "--json", "--today", "2026-03-12"]) == 1
    [en] = json.loads(capsys.readouterr().out)
    assert {**vi, "text": ""} == {**en, "text": ""}
    assert vi["text"].startswith("Ngày sinh của thuyền viên thứ 13")
    assert en["text"].startswith("crew member 13's date of birth")
    assert main(["convert", *files, "--lang", "vi", "--today", "2026-03-12"]) == 1
    assert "Ngày sinh của thuyền viên thứ 13" in capsys.readouterr().out
