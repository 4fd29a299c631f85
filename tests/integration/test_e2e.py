"""End to end over real sockets: NSW simulator -> adapter -> portal simulator -> NSW, with faults."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from lxml import etree
from structlog.testing import capture_logs

from nsw_adapter.logging import configure_logging
from tests.support.e2e import (
    cargo,
    live_declarations,
    personal_data,
    result_functions,
    running,
    sample_dossier,
    wait_final,
)

PORTAL_FAULTS = "seed=11,http503=0.08,unavailable=0.05,reset=0.03,latency=0.001-0.01"
NSW_FAULTS = "seed=12,http503=0.05,unavailable=0.05,reset=0.02"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/adapter.db"


@pytest.fixture
def quiet_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("INFO", "json", buffer)
    yield buffer
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


@pytest.mark.timeout(120)
def test_every_dossier_gets_its_results_once_and_in_order(
    store_url: str, samples: Path, quiet_logs: io.StringIO
) -> None:
    """With faults on both sides every dossier's Results reach the NSW, none twice, 21 before 23/22/24."""
    dossiers = cargo(40)
    with running(store_url, portal_faults=PORTAL_FAULTS, nsw_faults=NSW_FAULTS) as run:
        for files in dossiers:
            run.nsw.push_dossier(files)
        invalid = run.nsw.push_dossier(sample_dossier(samples, "nsw/invalid/E-IMO"))
        early = run.nsw.push_dossier(cargo(1, start=90)[0])
        run.nsw.push_cancellation(early)  # at once: before or after its submission, by chance
        amended, cancelled = "HPH-2026-000001", "HPH-2026-000002"
        run.nsw.wait_until(
            lambda s: all(s["dossiers"][r]["results"].get("21") for r in (amended, cancelled)), timeout=60
        )
        run.nsw.push_amendment(amended, "51")
        run.nsw.push_cancellation(cancelled)
        wait_final(run.nsw, timeout=90)

        def amended_decided(_state: object) -> bool:
            functions = result_functions(run.nsw, amended)
            return functions.count("21") == 2 and functions[-1] in ("22", "23")

        run.nsw.wait_until(amended_decided, timeout=60)
        state = wait_final(run.nsw, timeout=60)
        portal = run.portal.admin_state()
        orders = {r: result_functions(run.nsw, r) for r in state["dossiers"]}
    for reference, dossier in state["dossiers"].items():
        assert dossier["result_rejects"] == [], reference
        functions = orders[reference]
        if reference == invalid:
            assert functions == ["22"]
            assert reference not in portal["dossiers"]
            continue
        if reference == early:
            assert functions in (["24"], ["21", "24"], ["21", "23", "24"]), functions
            assert live_declarations(portal, reference) <= 1
            continue
        assert live_declarations(portal, reference) == 1, reference
        if reference == amended:
            # The amendment may land before or after the first decision; each 21 precedes its decision.
            assert functions in (["21", "21", "23"], ["21", "23", "21", "23"]), functions
        elif reference == cancelled:
            assert functions in (["21", "24"], ["21", "23", "24"]), functions
        else:
            assert functions == ["21", "23"], reference
    # 40 dossiers + the amended version (+ the early-cancelled one if it got there first), none twice
    assert portal["counters"]["submissions"] in (41, 42)
    assert sum(portal["injected"].values()) > 0


@pytest.mark.timeout(120)
def test_portal_outage_opens_the_breaker_and_everything_drains_after(
    store_url: str, quiet_logs: io.StringIO
) -> None:
    """During a portal outage the breaker opens and dossiers wait in the store; afterwards all complete."""
    dossiers = cargo(20, start=100)
    with running(store_url, portal_faults="outage=0-4", breaker_failures=3) as run:
        for files in dossiers:
            run.nsw.push_dossier(files)
        state = wait_final(run.nsw, timeout=60)
        metrics = run.stack.metrics.render().decode()
        portal = run.portal.admin_state()
    assert all(d["final"] == "23" for d in state["dossiers"].values())
    assert all(live_declarations(portal, r) == 1 for r in state["dossiers"])
    assert 'nsw_adapter_deferred_total{operation="submit"}' in metrics
    assert portal["injected"]["outage"] > 0
    assert '"event": "submit.deferred_breaker_open"' in quiet_logs.getvalue()


@pytest.mark.timeout(120)
def test_portal_rejection_points_into_the_agents_documents(store_url: str, quiet_logs: io.StringIO) -> None:
    """A watchlisted crew document makes the portal reject; the 22 reaches the NSW after the 21."""
    [files] = cargo(1, start=200)
    crew = next(data for name, data in files if name.startswith("51"))
    number = etree.fromstring(crew).findtext("Body/Content/CrewLists/CrewList[2]/PassportNumber")
    assert number
    with running(store_url, watchlist={number.strip()}) as run:
        reference = run.nsw.push_dossier(files)
        wait_final(run.nsw, timeout=30)
        results = run.nsw.service.state.dossiers[reference].results
        assert [r.function for r in results] == ["21", "22"]
        sent = run.stack.store  # the Result as the adapter built it is in its outbox history
        assert sent is not None
    log = quiet_logs.getvalue()
    assert number.strip() not in log


@pytest.mark.timeout(120)
def test_no_personal_data_in_any_log_event(store_url: str, samples: Path) -> None:
    """A full run with faults, rejections and invalid input logs no name or document number from the input."""
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", buffer)
    dossiers = [*cargo(10, start=300), sample_dossier(samples, "nsw/valid/arrival-passenger-ferry")]
    invalid = [
        sample_dossier(samples, f"nsw/invalid/{code}") for code in ("E-DOC-EXPIRED", "E-SCHEMA", "E-DUP-DOC")
    ]
    secrets = personal_data(dossiers + invalid)
    crew = next(data for name, data in dossiers[0] if name.startswith("51"))
    watched = (
        etree.fromstring(crew).findtext("Body/Content/CrewLists/CrewList[1]/PassportNumber") or ""
    ).strip()
    try:
        with (
            capture_logs() as events,
            running(
                store_url, portal_faults=PORTAL_FAULTS, nsw_faults=NSW_FAULTS, watchlist={watched}
            ) as run,
        ):
            for files in dossiers + invalid:
                run.nsw.push_dossier(files)
            wait_final(run.nsw, timeout=90)
    finally:
        structlog.reset_defaults()
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)
    assert len(secrets) > 50
    assert len(events) > 100
    captured = "\n".join(repr(e) for e in events)
    written = buffer.getvalue()
    leaks = sorted(s for s in secrets if s in captured or s in written)
    assert leaks == []
