"""`nsw-adapter simulate subscriber` as users run it: a real process verifying what it is sent."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from nsw_adapter.cli import main
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.webhook import WebhookPublisher
from nsw_adapter.simulators.subscriber import DEMO_SECRET
from tests.support.events import OTHER_SECRET, outgoing

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def test_the_subscriber_keeps_signed_events_once_and_refuses_the_rest_then_stops_on_ctrl_c() -> None:
    """Signed with its secret: kept (a repeat counted, not kept); signed otherwise: 401; SIGINT exits 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nsw_adapter", "simulate", "subscriber", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)(/\S+)", banner)
        assert found, banner
        base, path = found.groups()
        event, *_ = outgoing(1)

        def publisher(secret: str) -> WebhookPublisher:
            settings = {"name": "customs", "kind": "webhook", "url": base + path, "secret": secret}
            return WebhookPublisher(SubscriberSettings.model_validate(settings))

        publisher(DEMO_SECRET).publish(event)
        publisher(DEMO_SECRET).publish(event)
        with pytest.raises(Exception, match="HTTP 401"):
            publisher(OTHER_SECRET).publish(event)
        state = requests.get(f"{base}/admin/state", timeout=5).json()
        assert [e["event"]["id"] for e in state["events"]] == [event.event_id]
        assert state["counts"]["duplicates"] == 1
        assert state["counts"]["bad_signatures"] == 1
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_a_bad_secret_or_fault_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A secret not in whsec_ form, or a --faults SPEC that does not parse, exits 2 naming the option."""
    assert main(["simulate", "subscriber", "--secret", "whsec_%%%"]) == 2
    assert "--secret" in capsys.readouterr().err
    assert main(["simulate", "subscriber", "--faults", "nonsense=1"]) == 2
    assert "--faults" in capsys.readouterr().err
