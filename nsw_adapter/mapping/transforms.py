"""The named transforms a mapping file may use, each turning NSW values into one portal value.

A transform takes the source value(s) of one portal element and returns its text (None
leaves an optional element out). `escape` says whether the result can hold XML's special
characters and must be escaped; transforms whose output is a code, a number or a name in
the portal's alphabet need no escaping, which keeps the hot path short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from nsw_adapter.codelists import codelists
from nsw_adapter.envelope import VIETNAM
from nsw_adapter.names import full_name, name_as_declared

PORTAL_DATE = "dd/MM/yyyy"
PORTAL_DATETIME = "dd/MM/yyyy HH:mm"


def parse_nsw_time(value: str) -> datetime:
    """An NSW document time (`yyyy-MM-dd HH:mm:ss`, local unless `Z` / `±hh:mm` follows), aware.

    Raises ValueError for a time the schema's pattern lets through but the calendar has not
    (2026-02-30).
    """
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM)
    return moment


def local_date(value: str) -> date:
    """The Vietnam local date of an NSW document time."""
    return parse_nsw_time(value).astimezone(VIETNAM).date()


def local_datetime(value: str) -> str:
    """An NSW time as the portal's `dd/MM/yyyy HH:mm` in UTC+07:00, seconds dropped."""
    moment = parse_nsw_time(value).astimezone(VIETNAM)
    return f"{moment.day:02d}/{moment.month:02d}/{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}"


def date_ddmmyyyy(value: date | str) -> str:
    """A date as the portal's `dd/MM/yyyy`."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def icao_nationality(code: str) -> str:
    """ISO alpha-2 (or XXA..XXX) -> ICAO Doc 9303 code: alpha-3, Germany D, XXA..XXX unchanged."""
    return codelists().icao_by_code[code]


def flag_alpha3(code: str) -> str:
    """A flag state, ISO alpha-2 -> ISO alpha-3 (Germany DEU: a flag is not a nationality)."""
    return codelists().alpha3_by_code[code]


def border_gate(locode: str) -> str:
    """A border gate port's UN/LOCODE -> the Border Guard station code."""
    return codelists().station_by_locode[locode]


def boolean(value: bool | str) -> str:
    """NSW 0/1 (read as bool) -> the portal's false/true."""
    if isinstance(value, str):
        value = value == "1"
    return "true" if value else "false"


def procedure(document_type: str) -> str:
    """NSW documentType 1 (arrival, entry) / 2 (departure, exit) -> NC / XC."""
    return {"1": "NC", "2": "XC"}[document_type]


def upper(value: str) -> str:
    """Upper case (ship names are ASCII already, the NSW allows lower case, the portal does not)."""
    return value.upper()


def text(value: object) -> str:
    """Copied unchanged (whitespace already collapsed as xs:token does)."""
    return str(value)


def escape_xml(value: str) -> str:
    """XML character data: &, < and > escaped."""
    if "&" in value or "<" in value or ">" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


@dataclass(frozen=True, slots=True)
class Transform:
    """A named transform: the function, how many sources it takes, whether its output needs escaping.

    inline: an expression the mapping engine may write in place of a call ({0} is the source),
    using the names `inline_names` gives it; it must mean exactly what `function` does.
    """

    name: str
    function: Callable[..., Any]
    arity: int
    escape: bool
    inline: str | None = None


def inline_names() -> dict[str, Any]:
    """The names inline transform expressions use (code tables, loaded once)."""
    lists = codelists()
    return {"ICAO": lists.icao_by_code, "ALPHA3": lists.alpha3_by_code, "GATES": lists.station_by_locode}


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("text", text, 1, escape=True),
        Transform("code", text, 1, escape=False),  # schema-constrained codes and numbers
        Transform("upper", upper, 1, escape=True),
        Transform("full_name", full_name, 2, escape=False),
        Transform("name_as_declared", name_as_declared, 2, escape=True),
        Transform("icao_nationality", icao_nationality, 1, escape=False, inline="ICAO[{0}]"),
        Transform("flag_alpha3", flag_alpha3, 1, escape=False, inline="ALPHA3[{0}]"),
        Transform("local_datetime", local_datetime, 1, escape=False),
        # Dates in the models are datetime.date (pydantic), so the inline form needs no parsing.
        Transform(
            "date_ddmmyyyy",
            date_ddmmyyyy,
            1,
            escape=False,
            inline='f"{{{0}.day:02d}}/{{{0}.month:02d}}/{{{0}.year:04d}}"',
        ),
        Transform("border_gate", border_gate, 1, escape=False, inline="GATES[{0}]"),
        Transform("boolean", boolean, 1, escape=False, inline='("true" if {0} else "false")'),
        Transform("procedure", procedure, 1, escape=False),
    )
}
