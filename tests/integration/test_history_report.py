"""`nsw-adapter show` and `report` over a store filled by a real run of both simulators: the figures
the simulators' admin state proves, the timeline of each dossier, and no personal data anywhere."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from lxml import etree
from sqlalchemy import delete, select

from nsw_adapter.logging import configure_logging
from nsw_adapter.store import facts, open_store
from nsw_adapter.store import tables as t
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database
from tests.support.e2e import cargo, personal_data, running, sample_dossier, wait_final

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "fixtures" / "samples" / "nsw"
EXECUTABLE = ROOT / ".venv" / "bin" / "nsw-adapter"


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    configure_logging("WARNING", stream=io.StringIO())
    yield
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXECUTABLE), *args], capture_output=True, text=True, timeout=60, check=False)


def first_passport(files: list[tuple[str, bytes]]) -> str:
    crew = next(data for name, data in files if name.startswith("51"))
    number = etree.fromstring(crew).findtext("Body/Content/CrewLists/CrewList[2]/PassportNumber")
    assert number
    return number


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A store after cleared, portal-rejected and locally rejected dossiers, and the portal's state."""
    if request.param == "sqlite":
        store_url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'adapter.db'}"
    else:
        request.getfixturevalue("pg_available")
        store_url = create_pg_database()
    open_store(store_url, migrate=True).close()
    cleared = cargo(3, prefix="HPH-2026-07")
    watched = cargo(1, start=50, prefix="HPH-2026-07")[0]
    asked = cargo(1, start=60, prefix="HPH-2026-07")[0]  # asked for more, answered, then cleared
    ferry = sample_dossier(SAMPLES, "valid/arrival-passenger-ferry")
    invalid = sample_dossier(SAMPLES, "invalid/E-IMO")
    dossiers = [*cleared, watched, asked, ferry, invalid]
    with running(store_url, watchlist={first_passport(watched)}, supplements={first_passport(asked)}) as run:
        for files in dossiers:
            run.nsw.push_dossier(files)
        wait_final(run.nsw, timeout=90)
        portal = run.portal.admin_state()
    yield {
        "url": store_url,
        "portal": portal,
        "personal": personal_data(dossiers),
        "ferry": ferry,
        "asked": "HPH-2026-07000060",
    }
    if request.param == "postgresql":
        drop_pg_database(store_url)


def test_report_gives_the_figures_the_portal_proves(filled: dict[str, Any]) -> None:
    """Cleared, rejected, shore passes and local rejections by code add up to what the simulators hold."""
    done = cli("report", "--from", "2026-01-01", "--to", "2026-12-31", "--json", "--store", filled["url"])
    assert done.returncode == 0, done.stderr
    gates = json.loads(done.stdout)
    # A receipt superseded (the supplement request's, answered by an amendment) is never decided.
    receipts = [
        r for d in filled["portal"]["dossiers"].values() for r in d["receipts"] if r["state"] != "SUPERSEDED"
    ]
    assert sum(g["cleared"] for g in gates) == sum(1 for r in receipts if r["state"] == "CLEARED")
    assert sum(g["rejected"] for g in gates) == sum(1 for r in receipts if r["state"] == "REJECTED") == 1
    assert sum(g["shore_passes"] for g in gates) == sum(len(r["shore_passes"]) for r in receipts) > 0
    assert sum(g["entries"] + g["exits"] for g in gates) == sum(g["cleared"] for g in gates)
    portal_codes = [code for r in receipts for code in {reason["code"] for reason in r["reasons"]}]
    assert {code: n for g in gates for code, n in g["rejected_by_code"].items()} == {
        code: portal_codes.count(code) for code in portal_codes
    }
    assert {code: n for g in gates for code, n in g["rejected_locally_by_code"].items()} == {"E-IMO": 1}
    decided = [g["to_decision_seconds"] for g in gates if g["to_decision_seconds"]["count"]]
    assert sum(d["count"] for d in decided) == len(receipts)
    assert all(d["median"] is not None and d["median"] >= 0 for d in decided)
    assert sum(g["to_result_seconds"]["count"] for g in gates) == len(receipts)
    csv = cli("report", "--from", "2026-01-01", "--to", "2026-12-31", "--csv", "--store", filled["url"])
    assert csv.stdout.splitlines()[0].startswith("gate,entries,exits")
    assert len(csv.stdout.splitlines()) == len(gates) + 1


def test_show_by_imo_gives_the_ferrys_timeline_and_its_clearance(filled: dict[str, Any]) -> None:
    """The ferry found by IMO: messages, state changes, the submission, Results, clearance, passes."""
    gd = next(data for name, data in filled["ferry"] if name.startswith("50"))
    imo = etree.fromstring(gd).findtext("Body/Content/GeneralDeclaration/IMONumber")
    assert imo
    done = cli("show", "--imo", imo, "--json", "--store", filled["url"])
    assert done.returncode == 0, done.stderr
    (dossier,) = json.loads(done.stdout)
    portal = filled["portal"]["dossiers"][dossier["reference"]]["receipts"][-1]
    assert dossier["state"] == "cleared"
    assert dossier["facts"]["imo"] == imo
    assert dossier["facts"]["clearance_number"] == portal["clearance_number"]
    assert dossier["facts"]["shore_passes"] == len(portal["shore_passes"])
    kinds = [event["kind"] for event in dossier["events"]]
    assert kinds.count("received") == len(filled["ferry"])
    assert "portal" in kinds
    results = [e["function"] for e in dossier["events"] if e["kind"] == "result"]
    assert results == ["21", "23"]
    assert [e["to"] for e in dossier["events"] if e["kind"] == "state"][-1] == "cleared"
    text = cli("show", "--imo", imo, "--store", filled["url"])
    assert f"clearance {portal['clearance_number']}" in text.stdout


def test_show_lists_the_problems_of_local_and_portal_rejections_with_their_xpaths(
    filled: dict[str, Any],
) -> None:
    """E-IMO from the adapter and BG-DOC-ALERT from the portal, each with its XPath into the NSW document."""
    local = json.loads(cli("show", "HPH-2026-000904", "--json", "--store", filled["url"]).stdout)
    problems = local[0]["problems"]
    assert {(p["code"], p["source"]) for p in problems} == {("E-IMO", "adapter")}
    assert all(p["xpath"].endswith("/IMONumber") and p["document_type"] for p in problems)
    watched = json.loads(cli("show", "--vessel", "", "--json", "--store", filled["url"]).stdout)
    portal = [p for d in watched for p in d["problems"] if p["source"] == "portal"]
    assert [p["code"] for p in portal] == ["BG-DOC-ALERT"]
    assert portal[0]["xpath"] == "/Envelope/Body/Content/CrewLists/CrewList[2]/PassportNumber"
    assert portal[0]["document_type"] == "51"


def test_show_gives_a_supplement_request_its_codes_deadline_and_outcome(filled: dict[str, Any]) -> None:
    """The dossier asked for more: the request (number, receipt, item codes, RespondBy, answered),
    its 25, the answer's new receipt and 21, and the decision; in text and JSON."""
    done = cli("show", filled["asked"], "--json", "--store", filled["url"])
    assert done.returncode == 0, done.stderr
    (dossier,) = json.loads(done.stdout)
    at_portal = filled["portal"]["dossiers"][filled["asked"]]["receipts"]
    asked = at_portal[0]["supplement_request"]
    assert asked is not None
    [request] = [e for e in dossier["events"] if e["kind"] == "request"]
    assert request["request_number"] == asked["number"]
    assert request["receipt_number"] == at_portal[0]["receipt"]
    assert request["codes"] == ["BG-SUPP-DOC"]
    assert request["outcome"] == "answered"
    assert request["respond_by"]
    assert [e["function"] for e in dossier["events"] if e["kind"] == "result"] == ["21", "25", "21", "23"]
    assert ("submitted", "supplement_requested") in [
        (e["from"], e["to"]) for e in dossier["events"] if e["kind"] == "state"
    ]
    text = cli("show", filled["asked"], "--store", filled["url"]).stdout
    assert f"supplement request {asked['number']}" in text
    assert "BG-SUPP-DOC, respond by" in text


def test_show_and_report_print_no_personal_data(filled: dict[str, Any]) -> None:
    """No input name or document number in any output of show (every dossier) or report."""
    outputs = [
        cli("show", "--vessel", "", "--store", filled["url"]).stdout,
        cli("show", "--vessel", "", "--json", "--store", filled["url"]).stdout,
        cli("report", "--from", "2026-01-01", "--to", "2026-12-31", "--store", filled["url"]).stdout,
    ]
    assert all(outputs)
    leaked = {value for value in filled["personal"] for output in outputs if value in output}
    assert leaked == set()


def test_an_unknown_reference_exits_1_and_a_missing_store_3(filled: dict[str, Any], tmp_path: Path) -> None:
    """show names what it did not find (exit 1); no store there is exit 3, and nothing is created."""
    missing = cli("show", "HPH-2026-999999", "--store", filled["url"])
    assert missing.returncode == 1
    assert "no dossier found for HPH-2026-999999" in missing.stderr
    nowhere = cli(
        "report", "--from", "2026-01-01", "--to", "2026-01-02", "--store", f"sqlite:///{tmp_path}/x.db"
    )
    assert nowhere.returncode == 3
    assert not (tmp_path / "x.db").exists()


def test_the_migration_backfills_the_facts_of_existing_dossiers(filled: dict[str, Any]) -> None:
    """Facts rebuilt from stored payloads (migration 9's backfill) equal those recorded as work happened."""
    store = open_store(filled["url"])
    try:
        with store.database.engine.begin() as c:
            recorded = sorted(map(tuple, c.execute(select(t.dossier_facts))))
            c.execute(delete(t.dossier_facts))
            facts.backfill(c)
            rebuilt = sorted(map(tuple, c.execute(select(t.dossier_facts))))
    finally:
        store.close()
    assert len(recorded) == 7  # every dossier of the fixture
    assert rebuilt == recorded


def test_status_counts_supplement_requests_by_outcome(filled: dict[str, Any]) -> None:
    """`status` (JSON and text) counts the run's one supplement request, answered."""
    env = {**os.environ, "NSW_ADAPTER_STORE__URL": filled["url"]}
    done = subprocess.run(
        [str(EXECUTABLE), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["supplement_requests"] == {"answered": 1}
    text = subprocess.run([str(EXECUTABLE), "status"], capture_output=True, text=True, timeout=60, env=env)
    assert "Supplement requests 1 (1 answered)" in text.stdout
