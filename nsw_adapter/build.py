"""This installation's version (the installed package's metadata): --version, build_info, the start line."""

from __future__ import annotations

import platform
from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache  # reading the metadata walks every installed distribution: ~2 ms, once per process
def adapter_version() -> str:
    """The installed nsw-adapter's version ("unknown" when run from a tree that was never installed)."""
    try:
        return version("nsw-adapter")
    except PackageNotFoundError:
        return "unknown"


def describe() -> str:
    """`nsw-adapter 0.1.0 (Python 3.11.9)`."""
    return f"nsw-adapter {adapter_version()} (Python {platform.python_version()})"
