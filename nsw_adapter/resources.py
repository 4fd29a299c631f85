"""Where the contract files live: the repository's schemas/, mappings/ and fixtures/samples/, or their
copies in a wheel (nsw_adapter/_data, pyproject.toml's force-include)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    """The folder holding `schemas/` and `mappings/` (the wheel's _data, else the checkout)."""
    bundled = _PACKAGE / "_data"
    if (bundled / "schemas").is_dir():
        return bundled
    return _PACKAGE.parent


def schema_path(*parts: str) -> Path:
    """A file under schemas/, e.g. schema_path("nsw", "envelope.xsd")."""
    return data_root().joinpath("schemas", *parts)


def mapping_path(*parts: str) -> Path:
    """A file under mappings/, e.g. mapping_path("codelists", "ranks.csv")."""
    return data_root().joinpath("mappings", *parts)


def sample_path(*parts: str) -> Path:
    """A file or folder under the contract's samples, e.g. sample_path("nsw", "invalid", "E-IMO")."""
    return data_root().joinpath("fixtures", "samples", *parts)
