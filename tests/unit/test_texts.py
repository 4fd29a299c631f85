"""The agents' texts: both catalogues complete and alike, every problem keyed, values shown only
where they are not personal data, libxml2's schema messages rewritten, no parser jargon."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

import nsw_adapter
from nsw_adapter.envelope import read_message
from nsw_adapter.errors import EnvelopeError, Problem, listed
from nsw_adapter.texts import CATALOGUES, LANGUAGES, WORDS, placeholders, problem, render
from nsw_adapter.texts.schema import schema_problem
from nsw_adapter.translate import translate
from nsw_adapter.xml import SYNTAX_KINDS, UntrustedXmlError, parse_untrusted, schema
from tests.support.translation import SAMPLES

PACKAGE = Path(nsw_adapter.__file__).resolve().parent
#: Every rule code of the contract (shared/interfaces/README.md, "Business rules").
CONTRACT_CODES = [
    *("E-SCHEMA", "E-ENVELOPE", "E-MISMATCH", "E-IMO", "E-PORT", "E-LOCODE", "E-COUNTRY", "E-COUNT"),
    *("E-SEQ", "E-MASTER", "E-DOC-EXPIRED", "E-DOB", "E-TAXCODE", "E-DUP-DOC", "E-INCOMPLETE"),
    *("E-UNKNOWN-DOSSIER", "E-SIGNATURE"),
]
#: Where a Problem may be built without a key: the factory itself, the portal's reasons (an
#: officer's words, passed on as written) and the console reading stored problems back.
UNKEYED = {"texts/__init__.py", "results.py", "console/store_model.py"}
JARGON = re.compile(r"facet|atomic type|XML_PARSE|PCDATA|NCName|libxml|xs:|\[0-9\]|Element '")


def test_both_catalogues_hold_the_same_keys_with_the_same_parameters() -> None:
    """Every text and word exists in Vietnamese and English, and each pair fills the same parameters."""
    en, vi = CATALOGUES["en"], CATALOGUES["vi"]
    assert sorted(en) == sorted(vi)
    assert sorted(WORDS["en"]) == sorted(WORDS["vi"])
    for key in en:
        assert placeholders(en[key]) == placeholders(vi[key]), key
        assert en[key] != vi[key], key


@pytest.mark.parametrize("code", CONTRACT_CODES)
def test_every_rule_code_has_a_text_in_both_languages(code: str) -> None:
    """Each code of the contract has at least one text, in both catalogues."""
    for language in LANGUAGES:
        assert [k for k in CATALOGUES[language] if k == code or k.startswith(f"{code}.")], (code, language)


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call):
                callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if callee == name:
                    found.append((str(path.relative_to(PACKAGE)), node))
    return found


def test_problems_are_built_with_a_message_key() -> None:
    """No module builds a Problem from a bare text (which could not be rendered in Vietnamese)."""
    bare = sorted({where for where, _ in _calls("Problem")} - UNKEYED)
    assert bare == []


def test_every_key_named_in_the_code_has_its_texts() -> None:
    """The message keys spelled out in the package (problem(...), envelope and parser refusals) all exist."""
    keys: set[str] = set()
    for name, prefix, position in (
        ("problem", "", 1),
        ("_problem", "", 1),
        ("_envelope_problem", "E-ENVELOPE.", 0),
        ("UntrustedXmlError", "E-ENVELOPE.", 0),
    ):
        for _, call in _calls(name):
            argument = call.args[position] if len(call.args) > position else None
            if isinstance(argument, ast.Constant):
                keys.add(prefix + str(argument.value))
    keys |= {f"xml.{kind}" for kind in SYNTAX_KINDS}
    assert len(keys) > 60
    missing = [k for k in keys if k not in CATALOGUES["en"] and k not in WORDS["en"]]
    assert missing == []


def _invalid_dossiers() -> list[list[bytes]]:
    return [
        [p.read_bytes() for p in sorted(d.glob("*.xml"))]
        for d in sorted((SAMPLES / "nsw" / "invalid").iterdir())
    ]


def test_every_problem_of_the_invalid_samples_renders_in_both_languages() -> None:
    """Each sample's problems carry a key and read otherwise in Vietnamese, capitalised, words translated."""
    seen = set()
    for documents in _invalid_dossiers():
        for found in translate(documents, client_message_id="texts-test", today=date(2026, 3, 12)).problems:
            assert found.key is not None, found
            vi = render(found, "vi")
            assert render(found, "en") == found.text
            assert vi != found.text
            assert vi[0].isupper(), vi
            assert "@" not in vi + found.text, vi
            seen.add(found.code)
    assert len(seen) >= 12


@pytest.mark.parametrize(
    ("key", "params", "en", "vi"),
    [
        ("E-IMO", {"document": "@doc.50", "value": "9074721"}, "7 digits", "7 chữ số"),
        (
            "E-LOCODE",
            {"document": "@doc.50", "port": "@port.PortOfCallCode", "value": "VN1HP"},
            "VNHPH",
            "VNHPH",
        ),
        ("E-TAXCODE", {"value": "0200578942"}, "10 digits", "10 chữ số"),
        ("E-PORT", {"value": "VNSGN", "gates": "VNHPH, VNDAD"}, "VNHPH, VNDAD", "VNHPH, VNDAD"),
    ],
)
def test_a_value_that_is_not_personal_is_shown_with_its_expected_form(
    key: str, params: dict[str, str], en: str, vi: str
) -> None:
    """IMO numbers, LOCODEs, tax codes and ports appear in the text with the form they should take."""
    made = problem(key, key, **params)
    for language, form in (("en", en), ("vi", vi)):
        text = render(made, language)  # type: ignore[arg-type]
        assert params["value"] in text
        assert form in text


def test_the_rules_show_the_offending_codes() -> None:
    """E-IMO, E-TAXCODE and E-PORT found in a dossier name the value the agent typed."""
    folder = SAMPLES / "nsw" / "invalid"
    for code, value in (
        ("E-IMO", "IMONumber"),
        ("E-TAXCODE", "ShipAgentTaxCode"),
        ("E-PORT", "PortOfCallCode"),
    ):
        documents = [p.read_bytes() for p in sorted((folder / code).glob("*.xml"))]
        typed = {e.text for d in documents for e in etree.fromstring(d).iter(value) if e.text}
        found = [p for p in translate(documents, client_message_id="t", today=date(2026, 3, 12)).problems]
        assert any(v in p.text for p in found for v in typed if p.code == code), (code, found)


def _validation_problems(path: str, value: str) -> list[Problem]:
    gd = SAMPLES / "nsw" / "valid" / "arrival-general-cargo" / "51-crew-list.xml"
    root = etree.fromstring(gd.read_bytes())
    found = root.find(path)
    assert found is not None
    found.text = value
    validator = schema("envelope")
    assert not validator.validate(root)
    return [schema_problem("E-SCHEMA", e.message, e.path, "51") for e in validator.error_log]  # type: ignore[attr-defined]


CREW = "Body/Content/CrewLists"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (f"{CREW}/IMONumber", "12a", "IMONumber 12a is not in the expected form: 7 digits"),
        (f"{CREW}/PortOfCallCode", "vn!", "PortOfCallCode vn! is not in the expected form: 5 characters"),
        (f"{CREW}/CrewList[2]/CrewCode", "0", "CrewCode 0 is not a whole number of 1 or more"),
        (
            f"{CREW}/CrewList[2]/RankCode",
            "CAPTAIN",
            "RankCode CAPTAIN is not one of the allowed values: MAS, CHO",
        ),
        (
            f"{CREW}/CrewList[2]/PassportNumber",
            "b12345!",
            "PassportNumber is not in the expected form: capital",
        ),
        (f"{CREW}/CrewList[2]/DateOfBirth", "1980-13-45", "DateOfBirth is not a date written yyyy-MM-dd"),
        (f"{CREW}/CrewList[2]/FamilyName", "N" * 71, "FamilyName is 71 characters long, longer than the"),
    ],
)
def test_schema_errors_read_as_sentences_naming_the_field(path: str, value: str, expected: str) -> None:
    """libxml2's message becomes a sentence with the field, its value unless personal, and the form."""
    problems = _validation_problems(path, value)
    for language in LANGUAGES:
        for found in problems:
            text = render(found, language)
            assert JARGON.search(text) is None, text
            assert (found.key or "").startswith("E-SCHEMA.")
    assert any(p.text.startswith(expected) for p in problems), [p.text for p in problems]
    if path.rsplit("/", 1)[-1] in ("PassportNumber", "DateOfBirth", "FamilyName"):  # personal: never shown
        assert not any(value in render(p, lang) for p in problems for lang in LANGUAGES)


def test_schema_messages_of_unknown_shape_still_name_the_field() -> None:
    """A message the rewriter does not know is a plain sentence about its field, not libxml2's words."""
    made = schema_problem(
        "E-SCHEMA", "Element 'Foo': something new happened.", "/Envelope/Body/Content/X/Foo", "50"
    )
    assert made.text == "Foo does not fit the NSW schema"


@pytest.mark.parametrize(
    "data",
    [
        b"<a>" * 300 + b"</a>" * 300,
        b"<a><b></a>",
        b"<a>&nbsp;</a>",
        b"<a>\x01</a>",
        b"",
        b"<" + b"a" * 50_001 + b"/>",
    ],
)
def test_parser_refusals_carry_no_jargon(data: bytes) -> None:
    """Deep nesting, malformed XML and overlong names are told in plain words, in both languages."""
    with pytest.raises(UntrustedXmlError) as refused:
        parse_untrusted(data)
    with pytest.raises(EnvelopeError) as read:
        read_message(data)
    assert read.value.problems[0].text == str(refused.value)
    for language in LANGUAGES:
        text = render(read.value.problems[0], language)
        assert JARGON.search(text) is None, text
        assert "HUGE" not in text


def test_the_count_of_unlisted_problems_is_rendered_too() -> None:
    """An answer cut at its limit says how many more there are, in the agents' language."""
    many = [problem("E-COUNT", "E-INCOMPLETE.empty") for _ in range(5)]
    summary = listed(many, limit=3)[-1]
    assert summary.text.startswith("3 more problems (E-COUNT) are not listed")
    assert render(summary, "vi").startswith("Còn 3 lỗi khác (E-COUNT)")
