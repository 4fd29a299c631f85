"""The daemon killed with SIGKILL again and again mid-run: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database
from nsw_adapter.xml import parse_untrusted
from tests.support.daemons import Daemon, adapter_env
from tests.support.e2e import sent_at

pytestmark = pytest.mark.slow

PORTAL_FAULTS = "seed=21,http503=0.05,unavailable=0.05,reset=0.02"
DOSSIERS = 300
KILLS = 6
SUPPLEMENTED = 10  # every 10th dossier draws a supplement request, answered by the NSW simulator


def _dossiers(prefix: str) -> list[list[tuple[str, bytes]]]:
    return [
        generate_dossier(crew=3 + i % 5, seed=i, reference=f"{prefix}-2026-{i:06d}", sent_at=sent_at(i))
        for i in range(DOSSIERS)
    ]


def _supplement_numbers(prefix: str) -> set[str]:
    """The first crew member's document number of every SUPPLEMENTED-th dossier (the portal asks
    for more about them)."""
    numbers = set()
    for files in _dossiers(prefix)[::SUPPLEMENTED]:
        crew = next(raw for name, raw in files if "51" in name)
        numbers.add(parse_untrusted(crew).findtext("Body/Content/CrewLists/CrewList/PassportNumber") or "")
    return numbers


def _verify(nsw_state: dict[str, Any], portal_state: dict[str, Any], prefix: str) -> None:
    dossiers = nsw_state["dossiers"]
    assert len(dossiers) == DOSSIERS
    asked = {f"{prefix}-2026-{i:06d}" for i in range(0, DOSSIERS, SUPPLEMENTED)}
    for reference, dossier in dossiers.items():
        assert dossier["final"] == "23", reference
        at_portal = portal_state["dossiers"][reference]
        if reference in asked:
            # One 25 (one messageId: a resend after a kill is a duplicate), the answer's new receipt
            # announced with its own 21, then the decision.
            assert dossier["results"] == {"21": 2, "25": 1, "23": 1}, reference
            assert at_portal["submissions"] == 2, reference
        else:
            assert dossier["results"] == {"21": 1, "23": 1}, (
                reference
            )  # each Result once (resends are duplicates)
            assert at_portal["submissions"] == 1, reference  # repeats came back as the first receipt
        assert dossier["result_rejects"] == [], reference


def _crash_run(workdir: Path, daemons: list[Daemon], nsw: NswSimulator, prefix: str) -> dict[str, Any]:
    rng = random.Random(7)
    try:
        for daemon in daemons:
            daemon.start()
        nsw.agency_urls = [daemon.intake_url for daemon in daemons]  # each takes pushes, and is killed
        for files in _dossiers(prefix):
            nsw.push_dossier(files)
        for kill in range(KILLS):
            time.sleep(rng.uniform(0.5, 2.0))
            victim = daemons[kill % len(daemons)]
            victim.kill()
            victim.start(wait=False)
        for daemon in daemons:
            daemon.wait_healthy()
        state = _wait_all_final(nsw)
        for daemon in daemons:
            assert daemon.terminate() == 0  # and a graceful stop after all that
    finally:
        for daemon in daemons:
            daemon.ensure_stopped()
    return state


def _wait_all_final(nsw: NswSimulator) -> dict[str, Any]:
    """Every dossier final, or a failure that names the unfinished ones and what they got."""
    try:
        return nsw.wait_all_final(timeout=90, interval=0.25)
    except TimeoutError:
        unfinished = {
            reference: dossier
            for reference, dossier in nsw.admin_state()["dossiers"].items()
            if dossier["final"] is None
        }
        pytest.fail(f"{len(unfinished)} dossiers not final after 90 s: {json.dumps(unfinished)[:4000]}")


@pytest.fixture
def simulators(request: pytest.FixtureRequest) -> Iterator[tuple[PortalSimulator, NswSimulator]]:
    supplements = _supplement_numbers(request.param)
    with (
        PortalSimulator(decision_delay=0.2, faults=PORTAL_FAULTS, supplements=supplements) as portal,
        NswSimulator(push_timeout=3, backoff_initial=0.05, backoff_max=0.5, answer_supplements=True) as nsw,
    ):
        yield portal, nsw


@pytest.mark.timeout(180)
@pytest.mark.parametrize("simulators", ["HPH"], indirect=True)
def test_sigkill_repeatedly_on_sqlite(
    tmp_path: Path, simulators: tuple[PortalSimulator, NswSimulator]
) -> None:
    """Hundreds of dossiers, the daemon SIGKILLed and restarted six times: 21 and 23 exactly once each,
    and for the dossiers asked for more one 25, a second 21 after the answer, and the 23."""
    portal, nsw = simulators
    env = adapter_env(f"sqlite:///{tmp_path}/adapter.db", portal.url, nsw.url)
    daemon = Daemon(tmp_path, "adapter-1", env)
    state = _crash_run(tmp_path, [daemon], nsw, "HPH")
    _verify(state, portal.admin_state(), "HPH")
    assert daemon.starts == KILLS + 1


@pytest.mark.postgres
@pytest.mark.timeout(180)
@pytest.mark.parametrize("simulators", ["SGN"], indirect=True)
def test_sigkill_two_daemons_on_postgresql(
    tmp_path: Path, simulators: tuple[PortalSimulator, NswSimulator], pg_available: bool
) -> None:
    """Two daemons share one PostgreSQL store; killed in turn, they lose and double nothing."""
    if not pg_available:
        pytest.skip("no PostgreSQL")
    portal, nsw = simulators
    url = create_pg_database()
    try:
        env = adapter_env(url, portal.url, nsw.url)
        daemons = [Daemon(tmp_path, "adapter-a", env), Daemon(tmp_path, "adapter-b", env)]
        state = _crash_run(tmp_path, daemons, nsw, "SGN")
        _verify(state, portal.admin_state(), "SGN")
    finally:
        drop_pg_database(url)
