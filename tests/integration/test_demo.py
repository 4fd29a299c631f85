"""`nsw-adapter demo`: every dossier reaches its final result, the summary is printed, exit 0."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import structlog

from nsw_adapter.cli import main
from nsw_adapter.demo import run_demo


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    yield
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


@pytest.mark.timeout(120)
def test_demo_settles_every_dossier_and_prints_the_summary(tmp_path: Path) -> None:
    """The full demo mix (cruise ship, amendment, cancellation, invalid ones) ends with exit 0 in time."""
    out = io.StringIO()
    states: list[dict[str, Any]] = []
    code = run_demo(timeout=90, out=out, workdir=tmp_path, on_state=states.append)
    text = out.getvalue()
    assert code == 0, text
    assert "nothing lost, nothing doubled" in text
    assert "cruise ship" in text
    assert "5180" in text
    assert "cancelled" in text
    assert "invalid (E-IMO)" in text
    assert "cargo, asked for more" in text  # a supplement request, answered, then cleared
    assert "supplement requests: 1 (answered by the agent: 1)" in text
    portal = states[0]["portal"]
    assert all(d["submissions"] <= 2 for d in portal["dossiers"].values())
    assert (tmp_path / "adapter.log").stat().st_size > 0


def test_demo_is_a_cli_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nsw-adapter demo` is wired to the demo with its options."""
    seen: dict[str, Any] = {}

    def fake(**kwargs: Any) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setattr("nsw_adapter.demo.run_demo", fake)
    assert main(["demo", "--dossiers", "3", "--timeout", "10"]) == 0
    assert seen == {"dossiers": 3, "timeout": 10.0, "faults": None, "amqp_url": None}
