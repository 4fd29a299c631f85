"""The translation CLI as a real subprocess (the installed entry point's code path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.translation import SAMPLES


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "nsw_adapter", *args], capture_output=True, timeout=60, check=False
    )


def test_convert_and_validate_in_a_subprocess(tmp_path: Path) -> None:
    """fixtures -> validate -> convert over real files and exit codes; problems as JSON with exit 1."""
    out = tmp_path / "dossier"
    made = _cli("fixtures", "--crew", "5", "--passengers", "2", "--seed", "3", "--out", str(out))
    assert made.returncode == 0, made.stderr
    files = sorted(str(p) for p in out.iterdir())
    assert _cli("validate", *files).returncode == 0
    converted = _cli("convert", *files)
    assert converted.returncode == 0, converted.stderr
    assert converted.stdout.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Submission')

    invalid = sorted(str(p) for p in (SAMPLES / "nsw" / "invalid" / "E-MASTER").glob("*.xml"))
    failed = _cli("convert", *invalid, "--json")
    assert failed.returncode == 1
    assert [row["code"] for row in json.loads(failed.stdout)] == ["E-MASTER"]
    assert _cli("validate", str(tmp_path / "missing.xml")).returncode == 2
