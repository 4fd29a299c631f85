"""The event feed end to end over real sockets: the demo's mix of dossiers (simulated NSW and
portal with faults, the adapter, the reference subscriber as a webhook, a queue on the machine's
RabbitMQ) produces at each subscriber exactly the events the simulators' state implies, each once
after deduplication by id, in order per dossier, each valid by its schema, none carrying a name
or document number of the input."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import structlog

from nsw_adapter import demo_events
from nsw_adapter.demo import _invalid, plan, run_demo
from nsw_adapter.dossier_facts import arms_item_count
from tests.support.e2e import personal_data
from tests.support.events import schema_errors


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    yield
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


@pytest.mark.timeout(150)
def test_the_demo_mix_reaches_a_webhook_and_a_queue_exactly_once_in_order(
    tmp_path: Path, amqp_url: str
) -> None:
    out = io.StringIO()
    states: list[dict[str, Any]] = []
    code = run_demo(timeout=100, out=out, workdir=tmp_path, on_state=states.append, amqp_url=amqp_url)
    text = out.getvalue()
    assert code == 0, text
    [state] = states
    nsw, subscribers = state["nsw"], state["subscribers"]
    assert set(subscribers) == {demo_events.WEBHOOK, demo_events.AMQP}
    generated = plan()
    flags = {p.reference: demo_events.declared(d for _, d in files) for p, files in generated}
    flags.update({p.reference: demo_events.declared(d.data for d in docs) for p, docs in _invalid()})
    # Each reference's Arms Declaration item counts (an amendment may send another).
    arms = {p.reference: {arms_item_count(d) for _, d in files} - {None} for p, files in generated}
    arms.update({p.reference: {arms_item_count(d.data) for d in docs} - {None} for p, docs in _invalid()})
    secrets = personal_data([files for _, files in generated])
    assert len(secrets) > 500  # the check below looks for something
    for name, received in subscribers.items():
        events = [e["event"] for e in received["events"]]
        vias = {e["via"] for e in received["events"]}
        assert vias == ({"webhook"} if name == demo_events.WEBHOOK else {"amqp"})
        # The check the demo made, made again here: exactly what the NSW's results imply.
        assert demo_events.check(name, events, nsw, flags, received["counts"]) == []
        assert received["counts"]["conflicts"] == 0
        assert received["counts"]["bad_signatures"] == 0
        implied = sum(sum(demo_events.implied(d, flags[r]).values()) for r, d in nsw["dossiers"].items())
        assert len(events) == implied
        assert len({e["id"] for e in events}) == len(events)
        kinds = {e["type"] for e in events}
        assert {"dossier.cleared", "dossier.rejected", "dossier.cancelled", "dossier.superseded"} <= kinds
        assert {"dossier.stowaways-reported", "dossier.arms-declared"} <= kinds
        for event in events:
            assert schema_errors(event) == []
            if event["type"] == "dossier.arms-declared":
                assert event["data"]["items"] in arms[event["subject"]]
            body = json.dumps(event, ensure_ascii=False)
            assert not [s for s in secrets if s in body]
    # The same event, the same id and bytes, at both subscribers.
    webhook = {e["event"]["id"]: e["event"] for e in subscribers[demo_events.WEBHOOK]["events"]}
    queue = {e["event"]["id"]: e["event"] for e in subscribers[demo_events.AMQP]["events"]}
    assert webhook == queue
    assert "Events received by customs" in text
    assert "Events received by port-authority" in text
