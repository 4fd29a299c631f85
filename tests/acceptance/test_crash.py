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
from nsw_adapter.store import open_store
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database
from nsw_adapter.xml import parse_untrusted
from tests.support.daemons import Daemon, adapter_env
from tests.support.e2e import result_functions, sent_at

pytestmark = pytest.mark.slow

PORTAL_FAULTS = "seed=21,http503=0.05,unavailable=0.05,reset=0.02"
# Some Results (the 25s among them) taken by the NSW and their answer lost: sent again, the same
# messageId, so the NSW counts each once (a Result "while being sent" when the daemon dies).
NSW_FAULTS = "seed=22,lost-reply=0.05"
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
    assert nsw_state["counters"]["result_duplicates"] > 0  # lost answers made resends: all duplicates
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
        NswSimulator(
            push_timeout=3, backoff_initial=0.05, backoff_max=0.5, answer_supplements=True, faults=NSW_FAULTS
        ) as nsw,
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


# --- amendments and cancellations under kills, with retry budgets shorter than the kills --------

CHANGES_DOSSIERS = 90
CHANGES_FAULTS = "seed=15,http503=0.05,unavailable=0.05,reset=0.02,lost-reply=0.03"
KILL_SECONDS = 20.0  # of kills, every 1-3 s: ten times the shortened budgets below
BUDGET_SECONDS = "2"  # the portal's and the NSW's: a wall-clock budget would dead-letter dossiers


def _changes_run(daemons: list[Daemon], nsw: NswSimulator, prefix: str) -> tuple[set[str], set[str]]:
    """Push the dossiers; amend every 4th and cancel every 5th other once its 21 is in, all while
    the daemons are SIGKILLed every 1-3 s for KILL_SECONDS; then let them finish in peace."""
    rng = random.Random(15)
    batch = [
        generate_dossier(crew=3 + i % 5, seed=i, reference=f"{prefix}-2026-{i:06d}", sent_at=sent_at(i))
        for i in range(CHANGES_DOSSIERS)
    ]
    references = [f"{prefix}-2026-{i:06d}" for i in range(CHANGES_DOSSIERS)]
    amend = {r for i, r in enumerate(references) if i % 4 == 1}
    cancel = {r for i, r in enumerate(references) if i % 5 == 2 and r not in amend}
    waiting = {**dict.fromkeys(amend, "amend"), **dict.fromkeys(cancel, "cancel")}

    def change_what_is_received() -> None:
        for reference, change in list(waiting.items()):
            if "21" in result_functions(nsw, reference):
                if change == "amend":
                    nsw.push_amendment(reference, "51")
                else:
                    nsw.push_cancellation(reference)
                del waiting[reference]

    try:
        for daemon in daemons:
            daemon.start()
        nsw.agency_urls = [daemon.intake_url for daemon in daemons]
        for files in batch:
            nsw.push_dossier(files)
        lives = {daemon.name: time.monotonic() + rng.uniform(1, 3) for daemon in daemons}
        ends = time.monotonic() + KILL_SECONDS
        while time.monotonic() < ends:
            change_what_is_received()
            for daemon in daemons:
                if time.monotonic() >= lives[daemon.name]:
                    daemon.kill()
                    daemon.start(wait=False)
                    lives[daemon.name] = time.monotonic() + rng.uniform(1, 3)
            time.sleep(0.1)
        for daemon in daemons:
            daemon.wait_healthy()
        deadline = time.monotonic() + 90
        while waiting and time.monotonic() < deadline:
            change_what_is_received()
            time.sleep(0.1)
        assert not waiting, f"no 21 within 90 s after the kills for {sorted(waiting)[:5]}"
        _wait_all_final(nsw)
        for daemon in daemons:
            assert daemon.terminate() == 0
    finally:
        for daemon in daemons:
            daemon.ensure_stopped()
    return amend, cancel


def _verify_changes(nsw: NswSimulator, portal: dict[str, Any], amend: set[str], cancel: set[str]) -> None:
    """Each version submitted once, each supersession and cancellation once and in order, and the
    Results the final state implies, each once."""
    state = nsw.admin_state()["dossiers"]
    assert len(state) == CHANGES_DOSSIERS
    for reference, dossier in state.items():
        assert dossier["result_rejects"] == [], reference
        functions = result_functions(nsw, reference)
        at_portal = portal["dossiers"][reference]
        receipts = at_portal["receipts"]
        if reference in amend:
            # The amendment lands before or after the first decision; each 21 precedes its decision.
            assert functions in (["21", "21", "23"], ["21", "23", "21", "23"]), (reference, functions)
            assert at_portal["submissions"] == 2, reference
            first, second = receipts
            assert (second["supersedes"], first["superseded_by"]) == (first["receipt"], second["receipt"])
            assert second["state"] == "CLEARED", reference
        elif reference in cancel:
            assert functions in (["21", "24"], ["21", "23", "24"]), (reference, functions)
            assert at_portal["submissions"] == 1, reference
            assert [r["state"] for r in receipts] == ["CANCELLED"], reference
        else:
            assert functions == ["21", "23"], (reference, functions)
            assert at_portal["submissions"] == 1, reference


@pytest.fixture
def changing_simulators() -> Iterator[tuple[PortalSimulator, NswSimulator]]:
    with (
        PortalSimulator(decision_delay=0.5, faults=CHANGES_FAULTS) as portal,
        NswSimulator(push_timeout=3, backoff_initial=0.05, backoff_max=0.5) as nsw,
    ):
        yield portal, nsw


def _short_budgets(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "NSW_ADAPTER_PORTAL__RETRY_BUDGET_SECONDS": BUDGET_SECONDS,
        "NSW_ADAPTER_NSW__RETRY_BUDGET_SECONDS": BUDGET_SECONDS,
    }


def _no_dead_letters(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert [(d.kind, d.reason) for d in store.dead_letters()] == []
    finally:
        store.close()


@pytest.mark.timeout(240)
def test_amendments_and_cancellations_through_kills_on_sqlite(
    tmp_path: Path, changing_simulators: tuple[PortalSimulator, NswSimulator]
) -> None:
    """SIGKILLed every 1-3 s under faults while the agents amend and cancel: every version is
    submitted once, each supersession and cancellation reaches the portal once, in order, the
    Results are those the final state implies; and a crash loop ten times longer than the retry
    budgets dead-letters nothing (only the portal's failures count)."""
    portal, nsw = changing_simulators
    url = f"sqlite:///{tmp_path}/adapter.db"
    daemon = Daemon(tmp_path, "adapter-1", _short_budgets(adapter_env(url, portal.url, nsw.url)))
    amend, cancel = _changes_run([daemon], nsw, "VUT")
    _verify_changes(nsw, portal.admin_state(), amend, cancel)
    _no_dead_letters(url)
    assert daemon.starts >= KILL_SECONDS / 3


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_amendments_and_cancellations_through_kills_on_postgresql(
    tmp_path: Path, changing_simulators: tuple[PortalSimulator, NswSimulator], pg_available: bool
) -> None:
    """The same with two daemons on one PostgreSQL store, each killed on its own schedule."""
    if not pg_available:
        pytest.skip("no PostgreSQL")
    portal, nsw = changing_simulators
    url = create_pg_database()
    try:
        env = _short_budgets(adapter_env(url, portal.url, nsw.url))
        daemons = [Daemon(tmp_path, "adapter-a", env), Daemon(tmp_path, "adapter-b", env)]
        amend, cancel = _changes_run(daemons, nsw, "QNH")
        _verify_changes(nsw, portal.admin_state(), amend, cancel)
        _no_dead_letters(url)
    finally:
        drop_pg_database(url)
