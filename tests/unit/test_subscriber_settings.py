"""`[[subscribers]]`: each subscriber's settings are checked for its kind; its filters choose its events."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.types import EventType
from nsw_adapter.settings import load_settings
from nsw_adapter.simulators.subscriber import DEMO_SECRET

WEBHOOK = {
    "name": "customs",
    "kind": "webhook",
    "url": "https://customs.example/hooks",
    "secret": DEMO_SECRET,
}
AMQP = {"name": "port", "kind": "amqp", "url": "amqp://feed:s3cret-pw@broker.example:5672/agencies"}


def test_subscribers_are_read_from_the_settings_file(tmp_path: Path) -> None:
    """[[subscribers]] tables become Settings.subscribers, an AMQP one with the default exchange."""
    config = tmp_path / "adapter.toml"
    config.write_text(
        f"""
[[subscribers]]
name = "customs"
kind = "webhook"
url = "https://customs.example/hooks/nsw"
secret = "{DEMO_SECRET}"
types = ["dossier.cleared", "dossier.rejected"]
gates = ["CKCHPG"]

[[subscribers]]
name = "port"
kind = "amqp"
url = "amqp://guest:guest@127.0.0.1:5672/%2F"
""",
        encoding="utf-8",
    )
    customs, port = load_settings(config).subscribers
    assert customs.types == [EventType.CLEARED, EventType.REJECTED]
    assert port.exchange == "nsw-adapter"
    assert load_settings().subscribers == []


@pytest.mark.parametrize(
    ("values", "wanted"),
    [
        ({**WEBHOOK, "secret": None}, "needs its signing secret"),
        ({**WEBHOOK, "secret": "not-a-secret"}, "whsec_"),
        ({**WEBHOOK, "exchange": "x"}, "for AMQP subscribers"),
        ({**WEBHOOK, "url": "amqp://customs.example/"}, "http:// or https://"),
        ({**AMQP, "url": "https://broker.example/"}, "amqp:// or amqps://"),
        ({**AMQP, "secret": DEMO_SECRET}, "for webhook subscribers"),
        ({**AMQP, "types": ["dossier.landed"]}, "dossier.cleared"),
        ({**AMQP, "name": "Port Authority"}, "pattern"),
        ({**WEBHOOK, "colour": "red"}, "Extra inputs"),
    ],
)
def test_a_subscriber_that_cannot_work_is_refused(values: dict[str, object], wanted: str) -> None:
    """Each misfit between a subscriber's kind and its keys (or an unknown type or key) is an error."""
    with pytest.raises(ValidationError, match=wanted):
        SubscriberSettings.model_validate(values)


def test_a_refused_url_and_the_repr_never_show_the_password() -> None:
    """A URL may carry a password: neither the error, the repr nor display_url shows it."""
    with pytest.raises(ValidationError) as refused:
        SubscriberSettings.model_validate({**AMQP, "url": "http://feed:s3cret-pw@broker.example/"})
    assert "s3cret-pw" not in str(refused.value)
    subscriber = SubscriberSettings.model_validate(AMQP)
    assert "s3cret-pw" not in repr(subscriber)
    assert subscriber.display_url == "amqp://broker.example:5672/agencies"


def test_subscriber_names_are_unique(tmp_path: Path) -> None:
    """Two subscribers of one name would share metrics and outbox rows: refused."""
    with pytest.raises(ValidationError, match="unique: port"):
        load_settings(subscribers=[AMQP, {**WEBHOOK, "name": "port"}])


def test_types_and_gates_choose_the_events_a_subscriber_receives() -> None:
    """Without filters everything; with them, only the listed types at the listed gates (or ports)."""
    everything = SubscriberSettings.model_validate(AMQP)
    assert everything.wants(EventType.DEAD_LETTERED, None, None)
    chosen = SubscriberSettings.model_validate(
        {**AMQP, "types": ["dossier.cleared"], "gates": ["CKCHPG", "VNDAD"]}
    )
    assert chosen.wants(EventType.CLEARED, "CKCHPG", "VNHPH")
    assert chosen.wants(EventType.CLEARED, "CKCDNG", "VNDAD")  # named by its port's LOCODE
    assert not chosen.wants(EventType.CLEARED, "CKCQNN", "VNQNH")
    assert not chosen.wants(EventType.REJECTED, "CKCHPG", "VNHPH")
    assert not chosen.wants(EventType.CLEARED, None, None)
