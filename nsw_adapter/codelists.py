"""The contract's code tables (mappings/codelists/*.csv), read once and shared.

Both the rules (E-PORT, E-COUNTRY) and the transforms (border_gate, icao_nationality,
flag_alpha3) look codes up here, so the two can never disagree.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from nsw_adapter.resources import mapping_path

#: ICAO Doc 9303 codes a person's nationality or document issuer may carry besides ISO 3166-1.
ICAO_SPECIAL = frozenset({"XXA", "XXB", "XXC", "XXX"})


@dataclass(frozen=True, slots=True)
class CodeLists:
    """Every code table the mapping and the rules need, as plain dicts and sets."""

    station_by_locode: dict[str, str]  # border-gates.csv: locode -> station_code
    icao_by_code: dict[str, str]  # icao-nationality.csv: alpha-2 (or XXA..) -> ICAO code
    alpha3_by_code: dict[str, str]  # icao-nationality.csv: alpha-2 -> ISO alpha-3 (flags)
    iso_countries: frozenset[str]  # ISO 3166-1 alpha-2 codes only
    ship_types: frozenset[str]
    purposes: frozenset[str]
    ranks: frozenset[str]


def read_codelist(name: str) -> list[dict[str, str]]:
    """The rows of one contract code list (mappings/codelists/NAME), keyed by its header."""
    with mapping_path("codelists", name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def codelists() -> CodeLists:
    """The code tables, loaded on first use (call it at start-up to keep I/O off the hot path)."""
    nationality = read_codelist("icao-nationality.csv")
    return CodeLists(
        station_by_locode={row["locode"]: row["station_code"] for row in read_codelist("border-gates.csv")},
        icao_by_code={row["code"]: row["icao_code"] for row in nationality},
        alpha3_by_code={row["code"]: row["iso_alpha3"] for row in nationality if row["iso_alpha3"]},
        iso_countries=frozenset(row["code"] for row in nationality if row["code"] not in ICAO_SPECIAL),
        ship_types=frozenset(row["code"] for row in read_codelist("ship-types.csv")),
        purposes=frozenset(row["code"] for row in read_codelist("purpose-of-call.csv")),
        ranks=frozenset(row["code"] for row in read_codelist("ranks.csv")),
    )
