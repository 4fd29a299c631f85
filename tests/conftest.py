"""Shared test fixtures: where the contract samples are."""

from __future__ import annotations

from pathlib import Path

import pytest

# Store fixtures (`store` over SQLite and PostgreSQL, `pg_url`, `clock`) for every area's tests.
# An unreachable PostgreSQL is an error in every test needing it, unless NSW_ADAPTER_TEST_SKIP_PG=1.
# RabbitMQ's (`amqp_url`); a loopback HTTP service answering as scripted (`serve`).
pytest_plugins = ["tests.support.store", "tests.support.amqp", "tests.support.loopback"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "fixtures" / "samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The contract's sample folder (fixtures/samples: nsw/ and bgp/)."""
    return SAMPLES
