"""CLI subcommands of one area (placeholder until that area registers its commands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands."""
