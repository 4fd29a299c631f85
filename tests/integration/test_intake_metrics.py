"""The intake counts what it answers and logs who it refused; two credentials during a rotation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from nsw_adapter.logging import configure_logging
from nsw_adapter.metrics import Metrics
from nsw_adapter.store import SqlStore
from nsw_adapter.testing.pushes import PASSWORD, USER, XML, soap_body
from tests.support.intake_client import running_intake, settings

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "nsw" / "valid"


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed as Prometheus reads it, by name and labels."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_pushes_are_counted_by_answer_and_rule_code_with_the_bytes_read(store: SqlStore) -> None:
    """A 99, a 22 (an unusable envelope) and a wrong password are counted under answer, code and reason."""
    metrics = Metrics()
    good = soap_body((VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_bytes())
    bad = soap_body("<Envelope><Header/></Envelope>")
    wrong = soap_body("<Envelope/>", password="not-it")
    written = io.StringIO()
    configure_logging("INFO", "json", written)  # the daemon's pipeline: contextvars merged, keys redacted
    try:
        with running_intake(store, metrics=metrics) as url:
            for body in (good, bad, wrong):
                requests.post(url, data=body, headers=XML, timeout=30)
    finally:
        configure_logging("INFO", "json")
    logs = [json.loads(line) for line in written.getvalue().splitlines()]
    found = samples(metrics)
    assert found[("nsw_adapter_intake_pushes_total", (("answer", "99"),))] == 1
    assert found[("nsw_adapter_intake_pushes_total", (("answer", "22"),))] == 1
    assert found[("nsw_adapter_intake_pushes_total", (("answer", "fault"),))] == 1
    answered_22 = next(e for e in logs if e["event"] == "intake.refused")
    assert answered_22["codes"]
    for code in answered_22["codes"]:
        assert found[("nsw_adapter_intake_refusals_total", (("code", code),))] == 1
    assert found[("nsw_adapter_intake_auth_failures_total", (("reason", "wrong_password"),))] == 1
    assert found[("nsw_adapter_intake_received_bytes_total", ())] == len(good) + len(bad) + len(wrong)
    refused = next(e for e in logs if e["event"] == "intake.auth_failed")
    assert refused["user"] == USER
    assert refused["peer"] == "127.0.0.1"
    assert refused["auth_failure"] == "wrong user name or password"
    assert (answered_22["user"], answered_22["peer"]) == (USER, "127.0.0.1")


def test_during_a_rotation_the_old_and_the_new_password_are_both_accepted(store: SqlStore) -> None:
    """With previous_credentials set, a push with either password is answered 99; a third is refused."""
    rotating = settings(
        credentials={"username": USER, "password": "new-Secret-2"},
        previous_credentials={"username": USER, "password": PASSWORD},
    )
    folder = VALID / "arrival-general-cargo"
    gd, crew = sorted(folder.glob("5*.xml"))[:2]
    with running_intake(store, rotating) as url:
        old = requests.post(url, data=soap_body(gd.read_bytes()), headers=XML, timeout=30)
        new = requests.post(
            url, data=soap_body(crew.read_bytes(), password="new-Secret-2"), headers=XML, timeout=30
        )
        other = requests.post(
            url, data=soap_body(gd.read_bytes(), password="neither"), headers=XML, timeout=30
        )
    assert (old.status_code, new.status_code, other.status_code) == (200, 200, 500)
    assert b"authentication failed" in other.content
