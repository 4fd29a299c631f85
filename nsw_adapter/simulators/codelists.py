"""The code lists the portal simulator judges submissions by, read from mappings/codelists (once)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from nsw_adapter.resources import mapping_path


@dataclass(frozen=True, slots=True)
class PortalCodes:
    """Border gate stations, ICAO nationality / issuer codes, ISO alpha-3 flags and alpha-2 countries."""

    stations: frozenset[str]
    icao: frozenset[str]
    alpha3: frozenset[str]
    alpha2: frozenset[str]


def _rows(name: str) -> list[dict[str, str]]:
    with mapping_path("codelists", name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def portal_codes() -> PortalCodes:
    """The code lists, loaded once."""
    gates = _rows("border-gates.csv")
    countries = _rows("icao-nationality.csv")
    return PortalCodes(
        stations=frozenset(row["station_code"] for row in gates),
        icao=frozenset(row["icao_code"] for row in countries if row["icao_code"]),
        alpha3=frozenset(row["iso_alpha3"] for row in countries if row["iso_alpha3"]),
        alpha2=frozenset(row["code"] for row in countries if len(row["code"]) == 2),
    )
