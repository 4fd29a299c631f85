"""`nsw-adapter run | status | dlq` as real processes: health, metrics, graceful stop, dead letters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.simulators.subscriber import DEMO_SECRET, SubscriberSimulator
from nsw_adapter.store import open_store
from nsw_adapter.store import tables as t
from tests.support.daemons import EXECUTABLE, Daemon, adapter_env
from tests.support.events import OTHER_SECRET

SECRET = "s3cret-Portal-pw"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXECUTABLE), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.timeout(120)
def test_daemon_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The daemon serves /healthz and /metrics, finishes a dossier, exits 0 on SIGTERM, logs no secret.
    A second subscriber whose secret the webhook refuses shows `refused` in /healthz, its events
    kept pending (not dead), without making the adapter degraded."""
    with (
        PortalSimulator(decision_delay=0.1, credentials={"bgp": SECRET}) as portal,
        NswSimulator(backoff_max=0.3) as nsw,
        SubscriberSimulator(secret=DEMO_SECRET) as customs,
    ):
        env = adapter_env(f"sqlite:///{tmp_path}/adapter.db", portal.url, nsw.url)
        subscriber = {"name": "customs", "kind": "webhook", "url": customs.url, "secret": DEMO_SECRET}
        refused = {"name": "audit", "kind": "webhook", "url": customs.url, "secret": OTHER_SECRET}
        env |= {
            "NSW_ADAPTER_PORTAL__CREDENTIALS__USERNAME": "bgp",
            "NSW_ADAPTER_PORTAL__CREDENTIALS__PASSWORD": SECRET,
            "NSW_ADAPTER_SUBSCRIBERS": json.dumps([subscriber, refused]),
        }
        daemon = Daemon(tmp_path, "adapter-t", env)
        daemon.start()
        try:
            nsw.agency_url = daemon.intake_url
            nsw.push_dossier(generate_dossier(crew=4, seed=1, reference="HPH-2026-000777"))
            nsw.wait_all_final(timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # every event at the subscriber, and marked delivered
                health = requests.get(f"http://127.0.0.1:{daemon.metrics_port}/healthz", timeout=5).json()
                feed = health["subscribers"]
                if (
                    len(customs.events()) == 3
                    and feed["customs"]["pending"] == 0
                    and feed["audit"].get("state") == "refused"
                ):
                    break
                time.sleep(0.1)
            metrics = daemon.metrics()
            status = cli("status", env=daemon.env).stdout
        finally:
            code = daemon.terminate()
            daemon.ensure_stopped()
    assert code == 0
    assert re.search(r"^  subscriber audit +refused +last success - +last error ", status, re.MULTILINE)
    assert re.search(r"^  subscriber customs +ok +last success 20", status, re.MULTILINE)
    assert "subscriber audit refused our credentials" in status
    assert 'nsw_adapter_dossiers{state="cleared"}' in metrics
    assert "nsw_adapter_call_seconds_bucket" in metrics
    assert 'nsw_adapter_breaker_state{service="portal"}' in metrics
    # The event feed: received, submitted, cleared at the webhook; its figures in /metrics, /healthz.
    assert [e["type"] for e in customs.events()] == [
        "dossier.received",
        "dossier.submitted",
        "dossier.cleared",
    ]
    assert 'nsw_adapter_events_delivered_total{subscriber="customs"} 3.0' in metrics
    assert 'nsw_adapter_events_pending{subscriber="customs"}' in metrics
    assert health["subscribers"]["customs"]["pending"] == 0
    assert health["subscribers"]["customs"]["state"] == "ok"
    assert health["subscribers"]["customs"]["last_success"] is not None
    audit = health["subscribers"]["audit"]
    assert (audit["state"], audit["dead"]) == ("refused", 0)
    assert audit["pending"] >= 1
    assert audit["last_error"] == "subscriber audit refused our credentials (authentication failed, HTTP 401)"
    assert health["status"] == "ok"  # a subscriber's trouble is reported, not the adapter's
    assert "degraded_by" not in health
    log = daemon.log_path.read_text(encoding="utf-8")
    assert SECRET not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refusals = [line for line in lines if line["event"] == "dependency.credentials_refused"]
    assert [(r["service"], r["setting"]) for r in refusals] == [
        ("subscriber audit", "subscribers.audit.secret")
    ]
    events = [line["event"] for line in lines]
    assert "daemon.signal" in events
    assert events[-1] == "daemon.stopped"


@pytest.mark.timeout(120)
def test_status_and_dead_letter_commands(tmp_path: Path) -> None:
    """Dossiers the portal keeps failing past their retry budget are dead letters; `dlq retry REFERENCE`
    brings one back, `dlq discard REFERENCE --reason` closes the other with its reason in the audit trail."""
    with (
        PortalSimulator(decision_delay=0.1, faults="http503=1") as failing,
        PortalSimulator(decision_delay=0.1) as portal,
        NswSimulator(backoff_max=0.3) as nsw,
    ):
        env = adapter_env(f"sqlite:///{tmp_path}/adapter.db", failing.url, nsw.url)
        env["NSW_ADAPTER_PORTAL__RETRY_BUDGET_SECONDS"] = "1"
        daemon = Daemon(tmp_path, "adapter-d", env)
        daemon.start()
        try:
            nsw.agency_url = daemon.intake_url
            nsw.push_dossier(generate_dossier(crew=4, seed=2, reference="HPH-2026-000778"))
            nsw.push_dossier(generate_dossier(crew=4, seed=3, reference="HPH-2026-000779"))
            nsw.wait_pushed(timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if json.loads(cli("status", "--json", env=env).stdout)["dead_letters"] == 2:
                    break
                time.sleep(0.3)
        finally:
            code = daemon.terminate()
            daemon.ensure_stopped()
        assert code == 0
        status = json.loads(cli("status", "--json", env=env).stdout)
        assert status["dead_letters"] == 2
        listing = json.loads(cli("dlq", "list", "--json", env=env).stdout)
        assert {d["reference"] for d in listing} == {"HPH-2026-000778", "HPH-2026-000779"}
        assert all(d["reason"] == "portal retry budget exhausted" for d in listing)
        human = cli("status", env=env)
        assert "Dead letters" in human.stdout
        assert listing[0]["reason"] in human.stdout  # whole, not cut at 80 characters
        # The portal is back (at another address), bring one dossier back by its reference, close
        # the other for good.
        env["NSW_ADAPTER_PORTAL__URL"] = portal.url
        retried = cli("dlq", "retry", "HPH-2026-000778", env=env)
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.startswith("1 dead letter(s) back")
        reason = "the agent declared again under HPH-2026-000780"
        discarded = cli("dlq", "discard", "HPH-2026-000779", "--reason", reason, env=env)
        assert discarded.returncode == 0, discarded.stderr
        assert cli("dlq", "retry", "dossier:999", env=env).returncode == 1
        assert cli("dlq", "discard", "HPH-2026-000779", "--reason", "again", env=env).returncode == 1
        assert json.loads(cli("dlq", "list", "--json", env=env).stdout) == []
        assert json.loads(cli("status", "--json", env=env).stdout)["dossiers_by_state"]["discarded"] == 1
        assert cli("audit", "verify", env=env).returncode == 0
        store = open_store(env["NSW_ADAPTER_STORE__URL"])
        with store.engine.connect() as c:  # the reason, on a hash-chained audit row
            notes = c.execute(select(t.messages.c.problems).where(t.messages.c.direction == "operator")).all()
        store.close()
        assert [json.loads(note.problems)["reason"] for note in notes] == [reason]
        daemon.env = {**daemon.env, **env}
        daemon.start()
        try:  # the retried dossier is cleared; the discarded one never becomes final
            state = nsw.wait_until(
                lambda st: st["dossiers"]["HPH-2026-000778"].get("final") is not None, timeout=30
            )
            time.sleep(1)  # time enough for anything (wrongly) sent for the discarded one
            state = nsw.admin_state()
        finally:
            code = daemon.terminate()
            daemon.ensure_stopped()
        assert code == 0
    assert state["dossiers"]["HPH-2026-000778"]["final"] == "23"
    assert state["dossiers"]["HPH-2026-000779"].get("final") is None  # discarded: nothing more sent


def test_settings_come_from_a_toml_file_and_the_environment(tmp_path: Path) -> None:
    """`--config FILE` reads TOML, NSW_ADAPTER_* overrides it; a missing file is a usage error (2)."""
    database = tmp_path / "from-toml.db"
    config = tmp_path / "adapter.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{database}"\n'
        f'[portal.credentials]\nusername = "bgp"\npassword = "{SECRET}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSW_ADAPTER_")}
    assert cli("db", "migrate", "--config", str(config), env=env).returncode == 0
    status = cli("status", "--config", str(config), env=env)
    assert status.returncode == 0, status.stderr
    assert database.exists()
    assert SECRET not in status.stdout + status.stderr
    other = tmp_path / "from-env.db"
    from_env = {**env, "NSW_ADAPTER_STORE__URL": f"sqlite:///{other}"}
    assert cli("db", "migrate", "--config", str(config), env=from_env).returncode == 0
    assert other.exists()
    missing = cli("run", "--config", str(tmp_path / "nope.toml"), env=env)
    assert missing.returncode == 2
    assert "nope.toml" in missing.stderr


@pytest.mark.timeout(120)
def test_an_intake_process_and_a_worker_process_share_the_work(tmp_path: Path) -> None:
    """Split by role (`run --role intake`, NSW_ADAPTER_ROLES for the worker): the intake process only
    answers pushes, the worker process only runs the loops; together they finish every dossier,
    each submitted once."""
    with PortalSimulator(decision_delay=0.1) as portal, NswSimulator(backoff_max=0.3) as nsw:
        env = adapter_env(f"sqlite:///{tmp_path}/adapter.db", portal.url, nsw.url)
        intake = Daemon(tmp_path, "adapter-intake", env, args=("--role", "intake"))
        worker = Daemon(tmp_path, "adapter-worker", {**env, "NSW_ADAPTER_ROLES": '["worker"]'})
        intake.start()
        worker.start()
        try:
            intake_health = requests.get(f"http://127.0.0.1:{intake.metrics_port}/healthz", timeout=5).json()
            worker_health = requests.get(f"http://127.0.0.1:{worker.metrics_port}/healthz", timeout=5).json()
            with pytest.raises(requests.ConnectionError):  # the worker process serves no intake
                requests.post(worker.intake_url, data=b"", timeout=5)
            nsw.agency_url = intake.intake_url
            references = [f"HPH-2026-{n:06d}" for n in range(901, 904)]
            for n, reference in enumerate(references):
                nsw.push_dossier(generate_dossier(crew=4, seed=n, reference=reference))
            nsw.wait_all_final(timeout=60)
            portal_state = portal.admin_state()
            intake_metrics = intake.metrics()  # no loops there: the scrape reads the store's gauges
        finally:
            codes = [intake.terminate(), worker.terminate()]
            intake.ensure_stopped()
            worker.ensure_stopped()
    assert codes == [0, 0]
    assert (intake_health["roles"], intake_health["loops_alive"]) == (["intake"], None)
    assert (worker_health["roles"], worker_health["loops_alive"]) == (["worker"], True)
    assert [portal_state["dossiers"][r]["submissions"] for r in references] == [1, 1, 1]
    assert 'nsw_adapter_dossiers{state="cleared"} 3.0' in intake_metrics
    intake_events = {json.loads(line)["event"] for line in intake.log_path.read_text().splitlines()
                     if line.startswith("{")}  # fmt: skip
    assert "intake.stored" in intake_events
    assert not {e for e in intake_events if e.startswith(("submit.", "poll.", "outbox."))}
