"""The named transforms: FullName (NOTES' rule, transliteration), times, dates, codes, booleans."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsw_adapter.envelope import VIETNAM
from nsw_adapter.mapping.transforms import (
    TRANSFORMS,
    boolean,
    border_gate,
    date_ddmmyyyy,
    escape_xml,
    flag_alpha3,
    icao_nationality,
    local_date,
    local_datetime,
    procedure,
    upper,
)
from nsw_adapter.names import MAX_FULL_NAME, UNKNOWN, full_name, name_as_declared, portal_name

FULL_NAME = re.compile(r"[A-Z0-9]+( [A-Z0-9]+)*")


@pytest.mark.parametrize(
    ("family", "given_name", "expected"),
    [
        ("D'Souza", "", "DSOUZA"),
        ("Klaus-Dieter", "", "KLAUS DIETER"),
        ("St. John-Whitfield", "Anne", "ST JOHN WHITFIELD ANNE"),
        ("Schröder", "Jürgen", "SCHRODER JURGEN"),
        ("Nguyễn", "Văn Đức", "NGUYEN VAN DUC"),
        ("đặng", "thị", "DANG THI"),
        ("Ibañez", "José María", "IBANEZ JOSE MARIA"),
        ("Løvås", "Bjørn Æsir", "LOVAS BJORN AESIR"),
        ("Œuvray", "Łucja Þóra", "OEUVRAY LUCJA THORA"),
        ("Weiß", "Ðorđe", "WEISS DORDE"),
        ("O’Connor", "Siobhán", "OCONNOR SIOBHAN"),
        ("Kyaw Min Aung", "", "KYAW MIN AUNG"),
        ("Müller", "  Anke  ", "MULLER ANKE"),
    ],
)
def test_full_name_follows_notes(family: str, given_name: str, expected: str) -> None:
    """FullName applies NOTES' reading: Đ->D, marks dropped, special letters, apostrophes, punctuation."""
    assert full_name(family, given_name) == expected


def test_full_name_of_decomposed_input_equals_composed() -> None:
    """An é typed as e + combining acute folds exactly like the composed letter."""
    assert full_name("Le\u0301ve\u0302que", "") == full_name("Lévêque", "") == "LEVEQUE"


@pytest.mark.parametrize(
    ("family", "expected"),
    [("Иванов Пётр", "IVANOV PETR"), ("Παπαδόπουλος", "PAPADOPOYLOS"), ("张 伟", "ZHANG WEI")],
)
def test_non_latin_scripts_are_transliterated(family: str, expected: str) -> None:
    """Scripts the samples do not cover go through anyascii, letter by letter (not ICAO 9303 tables)."""
    assert full_name(family, "") == expected


def test_stowaway_without_a_name() -> None:
    """No name at all is UNKNOWN, and there is no NameAsDeclared."""
    assert full_name(None, None) == UNKNOWN
    assert name_as_declared(None, None) is None


def test_name_as_declared_keeps_unicode() -> None:
    """NameAsDeclared is family, a space, given names as typed; no trailing space for a mononym."""
    assert name_as_declared("Vũ", "Đình Khải") == "Vũ Đình Khải"
    assert name_as_declared("Suparman", "") == "Suparman"


def test_overlong_transliteration_is_cut_at_a_word() -> None:
    """A transliteration longer than the portal's 150 characters is cut at a word boundary."""
    name = full_name("张" * 70, "王" * 70)
    assert len(name) <= MAX_FULL_NAME
    assert FULL_NAME.fullmatch(name)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=80))
def test_portal_name_is_always_in_the_portal_alphabet(text: str) -> None:
    """Whatever Unicode comes in, the result is empty or matches [A-Z0-9]+( [A-Z0-9]+)*, at most 150."""
    result = portal_name(text)
    assert result == "" or FULL_NAME.fullmatch(result)
    assert len(result) <= MAX_FULL_NAME


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=30))
def test_letters_never_vanish_entirely(text: str) -> None:
    """A name made of letters yields a FullName (anyascii covers every script it knows)."""
    result = full_name(text, "")
    assert FULL_NAME.fullmatch(result) or result == ""


_OFFSETS = st.sampled_from(["", "Z", "+07:00", "+08:00", "-05:00", "+05:30", "+14:00", "-12:00", "+00:00"])


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    _OFFSETS,
)
def test_local_datetime_property(moment: datetime, offset: str) -> None:
    """Any NSW time, local or with an offset, becomes the same instant in UTC+07:00, seconds dropped."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S") + offset
    if offset == "":
        zone: timezone = VIETNAM
    elif offset == "Z":
        zone = UTC
    else:
        sign = 1 if offset[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    expected = moment.replace(tzinfo=zone).astimezone(VIETNAM)
    assert local_datetime(text) == expected.strftime("%d/%m/%Y %H:%M")
    assert local_date(text) == expected.date()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-13 23:30:00Z", "14/03/2026 06:30"),
        ("2026-03-17 17:00:00+08:00", "17/03/2026 16:00"),
        ("2026-03-20 08:00:59", "20/03/2026 08:00"),
        ("2026-12-31 20:00:00-05:00", "01/01/2027 08:00"),
    ],
)
def test_local_datetime_examples(text: str, expected: str) -> None:
    """NOTES' examples and a year boundary."""
    assert local_datetime(text) == expected


def test_calendar_impossible_time_raises() -> None:
    """30 February passes the schema's pattern but not the calendar."""
    with pytest.raises(ValueError):
        local_datetime("2026-02-30 10:00:00")


def test_codes() -> None:
    """Nationality DE->D (ICAO), flag DE->DEU, XXA unchanged, LOCODE->station, 1/2->NC/XC, 0/1->false/true."""
    assert icao_nationality("DE") == "D"
    assert icao_nationality("VN") == "VNM"
    assert icao_nationality("XXA") == "XXA"
    assert flag_alpha3("DE") == "DEU"
    assert border_gate("VNHPH") == "CKCHPG"
    assert procedure("1") == "NC"
    assert procedure("2") == "XC"
    assert (boolean(True), boolean(False), boolean("1"), boolean("0")) == ("true", "false", "true", "false")
    assert date_ddmmyyyy(date(1972, 2, 5)) == "05/02/1972"
    assert date_ddmmyyyy("0999-12-01") == "01/12/0999"
    assert upper("Ocean Jade") == "OCEAN JADE"
    assert escape_xml("A & B <C>") == "A &amp; B &lt;C&gt;"


def test_inline_forms_mean_what_the_functions_do() -> None:
    """Each transform's inline expression, evaluated, equals its function on sample values."""
    from nsw_adapter.mapping.transforms import inline_names

    samples: dict[str, list[object]] = {
        "icao_nationality": ["DE", "VN", "XXB"],
        "flag_alpha3": ["DE", "PA"],
        "border_gate": ["VNHON", "VNSGN"],
        "boolean": [True, False],
        "date_ddmmyyyy": [date(1999, 1, 2), date(2031, 12, 31)],
    }
    for name, values in samples.items():
        transform = TRANSFORMS[name]
        assert transform.inline is not None
        for value in values:
            names = {**inline_names(), "v": value}
            assert eval(transform.inline.format("v"), names) == transform.function(value)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=60))
def test_word_cache_equals_whole_text_folding(text: str) -> None:
    """Folding word by word (cached) gives exactly what folding the whole text at once gives."""
    from nsw_adapter.names import fold_text

    assert portal_name(text) == fold_text(text)[:MAX_FULL_NAME] or len(fold_text(text)) > MAX_FULL_NAME
