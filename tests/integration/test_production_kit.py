"""The production kit under deploy/: a systemd unit systemd accepts, alert rules promtool accepts and
whose unit tests pass, and a dashboard whose every query names a metric a running daemon exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.simulators.subscriber import DEMO_SECRET, SubscriberSimulator
from tests.support.daemons import Daemon, adapter_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXECUTABLE = ROOT / ".venv" / "bin" / "nsw-adapter"
METRIC = re.compile(r"\bnsw_adapter_[a-z_]+\b")


def tool(name: str) -> str:
    """The path of a tool `make test` installs (Debian's prometheus for promtool; systemd's own)."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make test` installs it (see the Makefile's tools target)")
    return found


def test_the_systemd_unit_is_valid_and_hardened(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit and `security` rates its exposure OK (below 2.0)."""
    analyze = tool("systemd-analyze")
    unit = tmp_path / "nsw-adapter.service"
    text = (DEPLOY / "systemd" / "nsw-adapter.service").read_text()
    # verify checks that ExecStart exists: point it at this checkout's executable.
    unit.write_text(text.replace("/opt/nsw-adapter/bin/nsw-adapter", str(EXECUTABLE)))
    verified = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == ""
    security = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    level = re.search(r"Overall exposure level for nsw-adapter.service: ([0-9.]+)", security.stdout)
    assert level is not None, security.stdout[-500:]
    assert float(level.group(1)) < 2.0
    for needed in ("NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure", "User=nsw-adapter"):
        assert needed in text


def test_the_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    """`promtool check rules` accepts alerts.yml and `promtool test rules` fires each alert as tested."""
    promtool = tool("promtool")
    rules = DEPLOY / "prometheus"
    checked = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=rules, capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = set(re.findall(r"alert: (\w+)", (rules / "alerts.yml").read_text()))
    tested_alerts = set(re.findall(r"alertname: (\w+)", (rules / "alerts_test.yml").read_text()))
    assert alerts <= tested_alerts, f"alerts without a unit test: {alerts - tested_alerts}"


def test_every_alerts_runbook_link_names_a_section_of_the_runbook() -> None:
    """Each alert's `runbook` annotation is docs/runbook.md#anchor of a heading there (GitHub's
    anchors: lower case, punctuation dropped, spaces as hyphens)."""
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "runbook.md").read_text(), re.MULTILINE)
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}
    links = re.findall(
        r'runbook: "docs/runbook\.md#([^"]+)"', (DEPLOY / "prometheus" / "alerts.yml").read_text()
    )
    assert links
    assert {link for link in links if link not in anchors} == set()


def queried_metrics() -> dict[str, set[str]]:
    """Every nsw_adapter metric named by a query, by the file that names it."""
    dashboard = json.loads((DEPLOY / "grafana" / "nsw-adapter.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {
        "grafana/nsw-adapter.json": {m for e in expressions for m in METRIC.findall(e)},
        "prometheus/alerts.yml": set(METRIC.findall((DEPLOY / "prometheus" / "alerts.yml").read_text())),
    }


@pytest.mark.timeout(120)
def test_every_metric_the_dashboard_and_alerts_query_is_exported_by_a_running_daemon(tmp_path: Path) -> None:
    """A daemon that has cleared a dossier (and sent its events to a subscriber) exports every
    series the dashboard and the alert rules name."""
    with (
        PortalSimulator(decision_delay=0.1) as portal,
        NswSimulator(backoff_max=0.3) as nsw,
        SubscriberSimulator(secret=DEMO_SECRET) as customs,
    ):
        env = adapter_env(f"sqlite:///{tmp_path}/adapter.db", portal.url, nsw.url)
        subscriber = {"name": "customs", "kind": "webhook", "url": customs.url, "secret": DEMO_SECRET}
        env["NSW_ADAPTER_SUBSCRIBERS"] = json.dumps([subscriber])
        daemon = Daemon(tmp_path, "kit", env)
        daemon.start()
        try:
            nsw.agency_url = daemon.intake_url
            nsw.push_dossier(generate_dossier(crew=3, seed=2, reference="HPH-2026-000902"))
            nsw.wait_all_final(timeout=60)
            exported = {
                line.split("{")[0].split(" ")[0] for line in daemon.metrics().splitlines() if line[:1] != "#"
            }
        finally:
            daemon.terminate()
            daemon.ensure_stopped()
    for source, metrics in queried_metrics().items():
        assert metrics, source
        missing = metrics - exported
        assert not missing, f"{source} queries metrics the daemon does not export: {sorted(missing)}"
