"""`nsw-adapter events list|replay` over a store with events: what a subscriber was sent, by range
and by its filters; a replay makes the range pending again with the same ids; `status` shows the
subscriber's backlog. Ids, types and references only: no name or document number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nsw_adapter.cli import main
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.lifecycle import DossierState
from nsw_adapter.store import open_store
from tests.support.store import begin_submission, incoming, record_decision, record_receipt, result

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


@pytest.fixture
def configured(tmp_path: Path) -> tuple[Path, str]:
    """A store with two dossiers' events (one cleared), fanned out, one delivered; its settings."""
    url = f"sqlite:///{tmp_path / 'adapter.db'}"
    config = tmp_path / "adapter.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n\n'
        f'[[subscribers]]\nname = "customs"\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
        f'secret = "{SECRET}"\n\n'
        f'[[subscribers]]\nname = "port"\nkind = "webhook"\nurl = "http://127.0.0.1:9/port"\n'
        f'secret = "{SECRET}"\ntypes = ["dossier.cleared"]\n',
        encoding="utf-8",
    )
    store = open_store(url, migrate=True)
    try:
        for reference in ("HPH-2026-000123", "HPH-2026-000124"):
            store.receive(incoming(f"{reference}-50", "50", reference=reference))
            store.receive(incoming(f"{reference}-51", "51", reference=reference))
        begin_submission(store, 1, b"<s/>", b"l")
        record_receipt(store, 1, "BG-2026-000001", False, result("21"))
        record_decision(store, 1, DossierState.CLEARED, result("23"))
        subscribers = [
            SubscriberSettings(name="customs", kind="webhook", url="http://127.0.0.1:9/h", secret=SECRET),
            SubscriberSettings(
                name="port",
                kind="webhook",
                url="http://127.0.0.1:9/p",
                secret=SECRET,
                types=["dossier.cleared"],
            ),
        ]
        store.fan_out_events(subscribers, store.now())
        first = store.claim_events("customs", "w", 10, 30, store.now())
        store.mark_events_delivered(first[0].delivery_id)
    finally:
        store.close()
    return config, url


def test_list_shows_each_event_with_its_delivery(
    configured: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = configured
    assert (
        main(
            [
                "events",
                "list",
                "--subscriber",
                "customs",
                "--from",
                "2020-01-01",
                "--config",
                str(config),
                "--json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [(r["reference"], r["sequence"], r["type"], r["delivery"]) for r in rows] == [
        ("HPH-2026-000123", 1, "dossier.received", "delivered"),
        ("HPH-2026-000124", 1, "dossier.received", "pending"),
        ("HPH-2026-000123", 2, "dossier.submitted", "pending"),
        ("HPH-2026-000123", 3, "dossier.cleared", "pending"),
    ]
    # The filtered subscriber sees only its type; an empty range lists nothing.
    assert (
        main(["events", "list", "--subscriber", "port", "--from", "2020-01-01", "--config", str(config)]) == 0
    )
    text = capsys.readouterr().out
    assert "dossier.cleared" in text
    assert "dossier.received" not in text
    assert "1 event(s) for port; 1 not delivered" in text
    assert main(["events", "list", "--subscriber", "port", "--from", "2020-01-01", "--to", "2020-01-02",
                 "--config", str(config)]) == 0  # fmt: skip
    assert "0 event(s)" in capsys.readouterr().out


def test_replay_sends_the_range_again_with_the_same_ids(
    configured: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = configured
    args = ["--subscriber", "customs", "--from", "2020-01-01", "--config", str(config)]
    assert main(["events", "list", *args, "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["events", "replay", *args]) == 0
    assert "4 event(s) will be sent to customs again" in capsys.readouterr().out
    assert main(["events", "list", *args, "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert {r["delivery"] for r in after} == {"pending"}


def test_status_shows_each_subscribers_backlog(
    configured: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = configured
    assert main(["status", "--config", str(config), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["subscribers"]["customs"]["pending"] == 3
    assert status["subscribers"]["port"]["pending"] == 1
    assert status["events_unfanned"] == 0
    assert main(["status", "--config", str(config)]) == 0
    assert "subscriber customs" in capsys.readouterr().out


def test_an_unknown_subscriber_or_a_backwards_range_is_a_usage_error(
    configured: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = configured
    assert (
        main(["events", "list", "--subscriber", "nobody", "--from", "2020-01-01", "--config", str(config)])
        == 2
    )
    assert "no subscriber 'nobody'" in capsys.readouterr().err
    code = main(["events", "replay", "--subscriber", "customs", "--from", "2021-01-01", "--to", "2020-01-01",
                 "--config", str(config)])  # fmt: skip
    assert code == 2


def test_forget_drops_a_removed_subscribers_backlog_and_refuses_a_configured_one(
    configured: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A subscriber still configured is not forgotten (it would miss what was dropped); once
    removed from the settings, its undelivered events go and it leaves `status`; the others'
    deliveries are untouched."""
    config, _ = configured
    assert main(["events", "forget", "--subscriber", "port", "--config", str(config)]) == 2
    assert "still in [[subscribers]]" in capsys.readouterr().err
    text = config.read_text(encoding="utf-8")
    config.write_text(text[: text.index('[[subscribers]]\nname = "port"')], encoding="utf-8")
    assert main(["events", "forget", "--subscriber", "port", "--config", str(config)]) == 0
    assert "forgot subscriber port: 1 undelivered event(s) dropped" in capsys.readouterr().out
    assert main(["status", "--config", str(config), "--json"]) == 0
    subscribers = json.loads(capsys.readouterr().out)["subscribers"]
    assert set(subscribers) == {"customs"}
    assert subscribers["customs"]["pending"] == 3
