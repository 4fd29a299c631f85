"""docs/settings.md is the settings model, rendered: every setting, each with what it means."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from nsw_adapter.settings import Settings
from nsw_adapter.settings_reference import ENV_PREFIX, render, tables

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    from nsw_adapter.settings_reference import _unwrap

    keys: set[str] = set()
    for name, field in model.model_fields.items():
        inner, _, _ = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            keys |= _leaf_keys(inner, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_the_checked_in_reference_is_what_the_model_renders() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is out of date: run `nsw-adapter config reference > docs/settings.md`"
    )


def test_every_setting_of_the_model_is_in_the_reference_once() -> None:
    rendered = {
        f"{table.header.strip('[]')}.{entry.key}".removeprefix("top level.")
        for table in tables()
        for entry in table.entries
    }
    assert rendered == _leaf_keys(Settings)


def test_entries_carry_type_bounds_default_environment_and_the_comment_beside_the_field() -> None:
    intake = next(table for table in tables() if table.header == "[intake]")
    skew = next(entry for entry in intake.entries if entry.key == "clock_skew_seconds")
    assert skew.type == "number (>= 0)"
    assert skew.default == "`60.0`"
    assert skew.env == f"{ENV_PREFIX}INTAKE__CLOCK_SKEW_SECONDS"
    assert "at most this far in the future" in skew.meaning
    # A field under another's comment block points at it rather than standing unexplained.
    tls_key = next(entry for entry in intake.entries if entry.key == "tls_key")
    assert tls_key.meaning == "See `tls_certificate`."
    store = next(table for table in tables() if table.header == "[store]")
    url = next(entry for entry in store.entries if entry.key == "url")
    assert "postgresql+psycopg://" in url.type  # the validator's docstring says what is accepted
    previous = next(table for table in tables() if table.header == "[intake.previous_credentials]")
    assert "absent by default" in previous.summary
    users = next(table for table in tables() if table.header == "[[console.users]]")
    assert all(entry.env is None for entry in users.entries)  # lists of tables are file-only


def test_the_command_prints_the_reference() -> None:
    command = [sys.executable, "-m", "nsw_adapter", "config", "reference"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert done.stdout == render()
