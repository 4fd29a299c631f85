"""The code lists the portal simulator judges submissions by, read from mappings/codelists (once)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

# The same contract files the adapter reads; the portal's judgement on them is its own.
from nsw_adapter.codelists import read_codelist


@dataclass(frozen=True, slots=True)
class PortalCodes:
    """Border gate stations, ICAO nationality / issuer codes, ISO alpha-3 flags and alpha-2 countries."""

    stations: frozenset[str]
    icao: frozenset[str]
    alpha3: frozenset[str]
    alpha2: frozenset[str]


@cache
def portal_codes() -> PortalCodes:
    """The code lists, loaded once."""
    gates = read_codelist("border-gates.csv")
    countries = read_codelist("icao-nationality.csv")
    return PortalCodes(
        stations=frozenset(row["station_code"] for row in gates),
        icao=frozenset(row["icao_code"] for row in countries if row["icao_code"]),
        alpha3=frozenset(row["iso_alpha3"] for row in countries if row["iso_alpha3"]),
        alpha2=frozenset(row["code"] for row in countries if len(row["code"]) == 2),
    )
