"""`nsw-adapter simulate portal|nsw` as users run them: real processes, real ports, Ctrl-C to stop."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from zeep.exceptions import Fault

from nsw_adapter.cli import build_parser, main
from nsw_adapter.cli.simulate import chosen_agency_urls, read_credentials, read_watchlist
from nsw_adapter.settings import IntakeSettings
from tests.support.nsw_gateway import FakeAgency

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "fixtures" / "samples" / "nsw" / "valid"


@contextmanager
def running(*args: str) -> Iterator[tuple[str, str]]:
    """Run `nsw-adapter simulate ...` on port 0; yield (banner line, base URL); stop it with SIGINT."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nsw_adapter", "simulate", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        assert found, (banner, process.stderr.read() if process.stderr else "")
        yield banner, f"http://127.0.0.1:{found.group(1)}"
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_portal_announces_its_address_and_the_demo_user_then_stops_on_ctrl_c() -> None:
    """The portal says where it listens and that demo/demo is accepted; SIGINT stops it with exit 0."""
    with running("portal", "--decision-delay", "0.1") as (banner, base):
        assert "/bgp/portal" in banner
        assert "user demo / password demo" in banner
        assert requests.get(f"{base}/admin/state", timeout=5).json()["dossiers"] == {}
        assert requests.get(f"{base}/bgp/portal?wsdl", timeout=5).status_code == 200


def test_nsw_starts_with_no_flags_and_serves_its_gateway_to_the_demo_user() -> None:
    """With no flags the NSW serves its gateway, says where and that demo/demo works, and pushes nothing."""
    from tests.support.nsw_gateway import answer_of, gateway, result

    with running("nsw") as (banner, base):
        assert f"{base}/nsw/gateway" in banner
        assert "user demo / password demo" in banner
        assert "no dossiers to push" in banner
        state = _state(base)
        assert state["dossiers"] == {}
        assert state["counters"]["pending_pushes"] == 0
        service = gateway(f"{base}/nsw/gateway")  # answered by the gateway, demo/demo accepted
        assert answer_of(service.sendAndGetMessage(requestMessage=result("result-21-accepted"))) == (
            "22",
            ["R-UNKNOWN-DOSSIER"],
        )


def test_nsw_agency_url_defaults_to_the_adapters_intake(capsys: pytest.CaptureFixture[str]) -> None:
    """--agency-url defaults to the adapter's default intake address, and --help says so."""
    intake = IntakeSettings()
    expected = f"http://{intake.host}:{intake.port}{intake.path}"
    assert expected == "http://127.0.0.1:8800/nsw/agency"
    assert chosen_agency_urls(build_parser().parse_args(["simulate", "nsw"])) == [expected]
    several = ["simulate", "nsw", "--agency-url", "http://a/x", "--agency-url", "http://b/x"]
    assert chosen_agency_urls(build_parser().parse_args(several)) == ["http://a/x", "http://b/x"]
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "nsw", "--help"])
    assert exited.value.code == 0
    assert expected in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("spec", ["bogus=1", "http503=2", "hang=0.5", "outage=5"])
def test_bad_fault_spec_is_a_usage_error(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A fault SPEC that does not parse exits 2 with a message saying what is wrong."""
    assert main(["simulate", "portal", "--faults", spec]) == 2
    assert "--faults" in capsys.readouterr().err
    assert main(["simulate", "nsw", "--agency-url", "http://127.0.0.1:1/x", "--faults", spec]) == 2


def test_unreadable_credentials_file_exits_1(tmp_path: Path) -> None:
    """A credentials file that cannot be read as users and passwords exits 1."""
    broken = tmp_path / "users.txt"
    broken.write_text("no colon here\n", encoding="utf-8")
    assert main(["simulate", "portal", "--credentials", str(broken)]) == 1
    assert main(["simulate", "portal", "--credentials", str(tmp_path / "missing.json")]) == 1


def test_credentials_and_watchlist_files(tmp_path: Path) -> None:
    """Credentials come as JSON or user:password lines; the watchlist as one number a line with comments."""
    lines = tmp_path / "users.txt"
    lines.write_text("# users\nalice:secret\nbob:pa:ss\n", encoding="utf-8")
    assert read_credentials(lines) == {"alice": "secret", "bob": "pa:ss"}
    as_json = tmp_path / "users.json"
    as_json.write_text(json.dumps({"carol": "x"}), encoding="utf-8")
    assert read_credentials(as_json) == {"carol": "x"}
    assert read_credentials(None) == {"demo": "demo"}
    watchlist = tmp_path / "watch.txt"
    watchlist.write_text("# stolen\nAB123456\n\nCD99  # lost\n", encoding="utf-8")
    assert read_watchlist(watchlist) == {"AB123456", "CD99"}


def test_portal_with_credentials_file_refuses_demo(tmp_path: Path) -> None:
    """With --credentials only the listed users are accepted: demo/demo gets the AUTH fault, the listed user
    is served (an unknown receipt is NOT_FOUND), and the banner says how many users there are."""
    from tests.support.portal_service import fault_code, make_service

    users = tmp_path / "users.json"
    users.write_text(json.dumps({"operator": "s3cret"}), encoding="utf-8")
    with running("portal", "--credentials", str(users)) as (banner, base):
        assert "1 user(s)" in banner
        assert "password demo" not in banner
        url = f"{base}/bgp/portal"
        with pytest.raises(Fault) as demo:
            make_service(url).GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
        assert fault_code(demo.value) == "AUTH"
        assert demo.value.code.endswith("Client")
        with pytest.raises(Fault) as listed:
            make_service(url, "operator", "s3cret").GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
        assert fault_code(listed.value) == "NOT_FOUND"


def test_portal_with_watchlist_file_rejects_a_listed_document(tmp_path: Path) -> None:
    """With --watchlist a declaration carrying a listed document number is REJECTED with BG-DOC-ALERT,
    while the same declaration without it is CLEARED."""
    from tests.support.portal_service import NS, make_service, submission, submit

    watchlist = tmp_path / "watch.txt"
    watchlist.write_text("# reported stolen\nWATCH0042\n", encoding="utf-8")
    with running("portal", "--watchlist", str(watchlist), "--decision-delay", "0.1") as (_, base):
        service = make_service(f"{base}/bgp/portal")
        watched = submission(client_message_id="cli-watched")
        doc_number = watched.find("bgp:Persons/bgp:Person/bgp:DocNumber", NS)
        assert doc_number is not None
        doc_number.text = "WATCH0042"
        rejected = submit(service, watched).ReceiptNumber
        cleared = submit(service, submission(client_message_id="cli-clean")).ReceiptNumber
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            statuses = service.GetProcessingStatus(ReceiptNumber=[rejected, cleared])
            if all(status.State != "PENDING" for status in statuses):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no decisions within 10 s")
        assert [status.State for status in statuses] == ["REJECTED", "CLEARED"]
        assert [reason.Code for reason in statuses[0].Reason] == ["BG-DOC-ALERT"]


def _state(base: str) -> dict[str, Any]:
    result: dict[str, Any] = requests.get(f"{base}/admin/state", timeout=5).json()
    return result


def test_nsw_pushes_a_folder_of_dossiers_then_amends_and_cancels() -> None:
    """`simulate nsw --dossiers DIR` pushes every dossier, then --amend / --cancel push 02 and 03 messages."""
    with (
        FakeAgency() as agency,
        running(
            "nsw",
            "--agency-url",
            agency.url,
            "--dossiers",
            str(VALID),
            "--shuffle",
            "--duplicates",
            "0.5",
            "--amend",
            "1",
            "--cancel",
            "1",
            "--change-delay",
            "0.1",
        ) as (banner, base),
    ):
        assert "pushing 5 dossier(s)" in banner
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = _state(base)
            functions = [
                item["function"]
                for dossier in state["dossiers"].values()
                for item in dossier["pushed"].values()
            ]
            if state["counters"]["pending_pushes"] == 0 and functions.count("03") == 2:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the amendments and cancellations did not arrive in time")
        assert functions.count("02") == 2  # the sample's own amendment and ours
        assert all(len(d["acknowledged"]) == len(d["pushed"]) for d in state["dossiers"].values())
        assert len(set(agency.received)) == len(functions)


def test_nsw_exit_when_done_stops_after_the_final_results() -> None:
    """With --exit-when-done the NSW exits 0 once every dossier has its final Result."""
    from tests.support.nsw_gateway import answer_of, gateway, result

    with FakeAgency() as agency:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nsw_adapter",
                "simulate",
                "nsw",
                "--port",
                "0",
                "--agency-url",
                agency.url,
                "--dossiers",
                str(VALID / "arrival-general-cargo"),
                "--exit-when-done",
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert process.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", process.stdout.readline())
            assert found
            base = f"http://127.0.0.1:{found.group(1)}"
            deadline = time.monotonic() + 10
            while _state(base)["counters"]["acknowledged"] < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            service = gateway(f"{base}/nsw/gateway")
            assert (
                answer_of(service.sendAndGetMessage(requestMessage=result("result-21-accepted")))[0] == "99"
            )
            assert process.poll() is None
            assert (
                answer_of(service.sendAndGetMessage(requestMessage=result("result-23-completed")))[0] == "99"
            )
            assert process.wait(10) == 0
            assert "final Result" in process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
