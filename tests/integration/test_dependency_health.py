"""A real daemon against real simulators on loopback whose passwords do not match ours (issue 12 item 4).

The daemon keeps running while the simulator starts accepting the password the daemon presents
(POST /admin/credentials, as when the other side finally sets the password we were given): the
pause must end by itself, with nothing dead-lettered on the way.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database
from tests.support.daemons import EXECUTABLE, Daemon, adapter_env
from tests.support.e2e import personal_data

PORTAL_PASSWORD = "Portal-pw-2026"  # what the daemon presents to the portal
NSW_PASSWORD = "Nsw-pw-2026"  # what the daemon presents to the NSW
REFERENCES = ("HPH-2026-000901", "HPH-2026-000902", "HPH-2026-000903")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store of this test's own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/adapter.db"
        return
    request.getfixturevalue("pg_available")
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def _env(store_url: str, portal: PortalSimulator, nsw: NswSimulator) -> dict[str, str]:
    return adapter_env(store_url, portal.url, nsw.url) | {
        "NSW_ADAPTER_PORTAL__CREDENTIALS__USERNAME": "bgp",
        "NSW_ADAPTER_PORTAL__CREDENTIALS__PASSWORD": PORTAL_PASSWORD,
        "NSW_ADAPTER_NSW__CREDENTIALS__USERNAME": "agency",
        "NSW_ADAPTER_NSW__CREDENTIALS__PASSWORD": NSW_PASSWORD,
        "NSW_ADAPTER_WORKER__AUTH_PROBE_SECONDS": "0.5",
    }


def _status(env: dict[str, str], *json_flag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXECUTABLE), "status", *json_flag],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _in_state(env: dict[str, str], state: str) -> int:
    """How many dossiers `status --json` counts in `state` (a state no dossier is in is absent)."""
    return int(json.loads(_status(env, "--json").stdout)["dossiers_by_state"].get(state, 0))


def _healthz(daemon: Daemon) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{daemon.metrics_port}/healthz", timeout=5)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def _events(daemon: Daemon) -> list[dict[str, Any]]:
    lines = daemon.log_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _push(nsw: NswSimulator, daemon: Daemon) -> set[str]:
    """Push the dossiers; the names and document numbers in them."""
    nsw.agency_url = daemon.intake_url
    dossiers = [
        generate_dossier(crew=3, seed=seed, reference=reference)
        for seed, reference in enumerate(REFERENCES, start=40)
    ]
    for dossier in dossiers:
        nsw.push_dossier(dossier)
    nsw.wait_pushed(timeout=30)
    return personal_data(dossiers)


@pytest.mark.timeout(150)
def test_a_wrong_portal_password_degrades_healthz_dead_letters_nothing_and_clears_once_fixed(
    tmp_path: Path, store_url: str
) -> None:
    """Started with a password the portal refuses: /healthz answers 503 `degraded` by the portal
    (`refused`, its last error saying so), `status` shows the same, the portal is probed a few
    times with one error logged, nothing is dead-lettered; once the portal accepts the password,
    without a restart, every dossier is cleared and /healthz is 200 `ok` again."""
    with (
        PortalSimulator(decision_delay=0.1, credentials={"bgp": "the-portal-s-real-one"}) as portal,
        NswSimulator(backoff_max=0.3, credentials={"agency": NSW_PASSWORD}) as nsw,
    ):
        env = _env(store_url, portal, nsw)
        daemon = Daemon(tmp_path, "adapter-auth", env)
        daemon.start()
        try:
            personal = _push(nsw, daemon)
            _wait(lambda: _healthz(daemon).status_code == 503, 30, "/healthz never degraded")
            health = _healthz(daemon).json()
            portal_seen = health["dependencies"]["portal"]
            # Probes go on meanwhile (one each auth_probe_seconds), each refused again.
            _wait(lambda: portal.admin_state()["counters"]["fault_AUTH"] >= 3, 30, "no probes")
            status = json.loads(_status(daemon.env, "--json").stdout)
            human = _status(daemon.env).stdout
            portal.set_credentials({"bgp": PORTAL_PASSWORD})  # the portal now accepts our password
            state = nsw.wait_all_final(timeout=60)
            _wait(lambda: _healthz(daemon).status_code == 200, 10, "/healthz never ok again")
            healed = _healthz(daemon).json()
            after = json.loads(_status(daemon.env, "--json").stdout)
        finally:
            code = daemon.terminate()
            daemon.ensure_stopped()
    assert code == 0
    assert health["status"] == "degraded"
    assert health["degraded_by"] == ["portal"]
    assert portal_seen["state"] == "refused"
    assert portal_seen["last_success"] is None
    assert portal_seen["last_error"] == "portal refused our credentials (authentication failed, AUTH)"
    assert health["dependencies"]["store"]["state"] == "ok"
    assert health["dead_letters"] == 0
    assert status["dead_letters"] == 0
    assert status["daemon"]["status"] == "degraded"
    assert status["daemon"]["http_status"] == 503
    assert status["daemon"]["dependencies"]["portal"]["state"] == "refused"
    assert "Daemon              degraded by portal (HTTP 503" in human
    assert "portal  refused" in human
    assert "refused our credentials" in human
    assert {state["dossiers"][r]["final"] for r in REFERENCES} == {"23"}
    assert healed["status"] == "ok"
    assert healed["dependencies"]["portal"]["state"] == "ok"
    assert healed["dependencies"]["portal"]["last_success"] is not None
    assert after["dead_letters"] == 0
    assert after["dossiers_by_state"]["cleared"] == len(REFERENCES)
    events = _events(daemon)
    refusals = [e for e in events if e["event"] == "dependency.credentials_refused"]
    assert len(refusals) == 1  # one clear error for the whole refusal, however many probes and dossiers
    assert refusals[0]["service"] == "portal"
    assert refusals[0]["setting"] == "portal.credentials"
    assert not [e for e in events if e["event"].endswith(".dead_letter")]
    assert any(e["event"] == "dependency.restored" and e["service"] == "portal" for e in events)
    seen = daemon.log_path.read_text(encoding="utf-8") + json.dumps(health) + human
    assert PORTAL_PASSWORD not in seen
    assert personal
    assert not {value for value in personal if value in seen}


@pytest.mark.timeout(150)
def test_a_wrong_nsw_password_pauses_the_outbox_and_it_resumes_once_fixed(
    tmp_path: Path, store_url: str
) -> None:
    """Started with a password the NSW refuses: the dossiers are submitted and decided, their
    Results wait (no dead letter, no attempt counted), /healthz is 503 `degraded` by the NSW; once the
    NSW accepts the password every Result goes out, each once."""
    with (
        PortalSimulator(decision_delay=0.1, credentials={"bgp": PORTAL_PASSWORD}) as portal,
        NswSimulator(backoff_max=0.3, credentials={"agency": "the-nsw-s-real-one"}) as nsw,
    ):
        env = _env(store_url, portal, nsw)
        daemon = Daemon(tmp_path, "adapter-nsw-auth", env)
        daemon.start()
        try:
            _push(nsw, daemon)
            _wait(lambda: _healthz(daemon).status_code == 503, 30, "/healthz never degraded")
            # Every dossier decided at the portal meanwhile: the pause is the NSW's alone.
            _wait(
                lambda: _in_state(daemon.env, "cleared") == 3,
                30,
                "dossiers not cleared at the portal",
            )
            health = _healthz(daemon).json()
            waiting = json.loads(_status(daemon.env, "--json").stdout)
            nsw.set_credentials({"agency": NSW_PASSWORD})
            state = nsw.wait_all_final(timeout=60)
            _wait(lambda: _healthz(daemon).status_code == 200, 10, "/healthz never ok again")
        finally:
            code = daemon.terminate()
            daemon.ensure_stopped()
    assert code == 0
    assert health["degraded_by"] == ["nsw"]
    assert health["dependencies"]["nsw"]["state"] == "refused"
    assert health["dependencies"]["portal"]["state"] == "ok"
    assert waiting["dead_letters"] == 0
    assert waiting["outbox_pending"] == 6  # a 21 and a 23 for each dossier, waiting
    assert state["counters"]["auth_failures"] >= 1
    for reference in REFERENCES:
        dossier = state["dossiers"][reference]
        assert dossier["final"] == "23"
        assert dossier["results"] == {"21": 1, "23": 1}
        assert dossier["result_duplicates"] == 0
    events = _events(daemon)
    refusals = [e for e in events if e["event"] == "dependency.credentials_refused"]
    assert [e["service"] for e in refusals] == ["nsw"]
    assert not [e for e in events if e["event"].endswith(".dead_letter")]


def test_the_simulators_accept_new_credentials_from_post_admin_credentials() -> None:
    """POST /admin/credentials replaces the passwords a simulator accepts (the old one refused from
    then on); a body that is not an object of strings is HTTP 400 and changes nothing."""
    from nsw_adapter.clients import RemotePermanentError, ZeepNswClient, ZeepPortalClient
    from nsw_adapter.errors import AuthenticationRefused

    with PortalSimulator(decision_delay=0.1, credentials={"bgp": "old"}) as portal, NswSimulator() as nsw:
        for simulator in (portal, nsw):
            admin = f"{simulator.base_url}/admin/credentials"
            assert requests.post(admin, data=b"[1]", timeout=5).status_code == 400
            assert requests.post(admin, json={"bgp": 7}, timeout=5).status_code == 400
            answer = requests.post(admin, json={"bgp": "new"}, timeout=5)
            assert (answer.status_code, answer.json()) == (200, {"users": ["bgp"]})
        with pytest.raises(AuthenticationRefused):
            ZeepPortalClient(portal.url, "bgp", "old", timeout_seconds=5).statuses(["CKCHPG-2026-000001"])
        with pytest.raises(RemotePermanentError) as unknown:  # accepted; the receipt is unknown only
            ZeepPortalClient(portal.url, "bgp", "new", timeout_seconds=5).statuses(["CKCHPG-2026-000001"])
        assert unknown.value.code == "NOT_FOUND"
        with pytest.raises(AuthenticationRefused):
            ZeepNswClient(nsw.url, "demo", "demo", timeout_seconds=5).send(b"<Envelope/>")
        # The new password passes the NSW's authentication (the envelope itself is then refused 22).
        assert ZeepNswClient(nsw.url, "bgp", "new", timeout_seconds=5).send(b"<Envelope/>").function == "22"
