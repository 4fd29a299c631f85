"""The publishers over real sockets: webhooks signed and verified by the reference subscriber (and over
TLS), AMQP to the machine's RabbitMQ with persistent, confirmed messages; each failure classified."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pika.exceptions
import pytest
from standardwebhooks.webhooks import Webhook

from nsw_adapter.errors import AuthenticationRefused, PermanentError, TransientError
from nsw_adapter.events.amqp import PERSISTENT, AmqpPublisher, queue_bindings
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.event import CONTENT_TYPE
from nsw_adapter.events.publisher import publisher_for
from nsw_adapter.events.webhook import WebhookPublisher
from nsw_adapter.simulators.subscriber import DEMO_SECRET, AmqpSource, SubscriberSimulator
from tests.support.amqp import DroppingProxy, Names, bound_queue, drain, wait_for
from tests.support.events import OTHER_SECRET, outgoing, schema_errors
from tests.support.tls_loopback import make_tls_files
from tests.support.webhooks import HttpsReceiver


def webhook(url: str, secret: str = DEMO_SECRET, **more: object) -> SubscriberSettings:
    return SubscriberSettings.model_validate(
        {"name": "customs", "kind": "webhook", "url": url, "secret": secret, **more}
    )


def amqp(url: str, exchange: str, **more: object) -> SubscriberSettings:
    return SubscriberSettings.model_validate(
        {"name": "port", "kind": "amqp", "url": url, "exchange": exchange, "timeout_seconds": 5, **more}
    )


@pytest.fixture
def subscriber() -> Iterator[SubscriberSimulator]:
    with SubscriberSimulator() as running:
        yield running


def test_a_webhook_delivery_is_signed_verified_and_kept_once(subscriber: SubscriberSimulator) -> None:
    """Each event arrives signed (the subscriber verifies it), is kept once; a redelivery is a duplicate."""
    publisher = publisher_for(webhook(subscriber.url))
    events = outgoing()
    for event in events:
        publisher.publish(event)
    publisher.publish(events[0])  # at least once: the same id again
    publisher.close()
    state = subscriber.admin_state()
    kept = [e["event"] for e in state["events"]]
    assert [e["id"] for e in kept] == [e.event_id for e in events]
    assert all(schema_errors(e) == [] for e in kept)
    assert (
        state["counts"] | {"deliveries": 4, "webhook": 4, "duplicates": 1, "conflicts": 0} == state["counts"]
    )
    assert state["counts"]["bad_signatures"] == 0


def test_a_webhook_with_the_wrong_secret_is_a_refusal_of_our_credentials(
    subscriber: SubscriberSimulator,
) -> None:
    """The subscriber answers 401 to a signature it cannot verify: our credentials refused (the
    subscriber is paused, the event not given up on), nothing kept."""
    publisher = WebhookPublisher(webhook(subscriber.url, secret=OTHER_SECRET))
    with pytest.raises(AuthenticationRefused, match="HTTP 401") as refusal:
        publisher.publish(outgoing(1)[0])
    assert refusal.value.service == "subscriber customs"
    state = subscriber.admin_state()
    assert state["events"] == []
    assert state["counts"]["bad_signatures"] == 1


def test_webhook_failures_are_transient_or_permanent_by_their_answer(subscriber: SubscriberSimulator) -> None:
    """5xx and a dropped connection are retried later; a 404 is the subscriber refusing for good."""
    event = outgoing(1)[0]
    subscriber.set_faults("unavailable=1")
    with pytest.raises(TransientError, match="HTTP 500"):
        WebhookPublisher(webhook(subscriber.url)).publish(event)
    subscriber.set_faults("reset=1")
    with pytest.raises(TransientError, match="connection"):
        WebhookPublisher(webhook(subscriber.url)).publish(event)
    subscriber.set_faults(None)
    with pytest.raises(PermanentError, match="HTTP 404"):
        WebhookPublisher(webhook(subscriber.base_url + "/elsewhere")).publish(event)
    closed = SubscriberSimulator().start()
    url = closed.url
    closed.stop()
    with pytest.raises(TransientError, match="connection failed"):
        WebhookPublisher(webhook(url)).publish(event)
    assert subscriber.admin_state()["events"] == []


def test_a_webhook_over_tls_is_delivered_when_its_ca_is_trusted(tmp_path: Path) -> None:
    """With ca_bundle naming the subscriber's CA the POST goes through; with the system CAs, no handshake."""
    files = make_tls_files(tmp_path)
    receiver = HttpsReceiver(files)
    try:
        event = outgoing(1)[0]
        with pytest.raises(TransientError, match="TLS handshake failed"):
            WebhookPublisher(webhook(receiver.url)).publish(event)
        WebhookPublisher(webhook(receiver.url, ca_bundle=files.ca)).publish(event)
        ((headers, body),) = receiver.captured.requests
    finally:
        receiver.close()
    assert body == event.body
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["webhook-id"] == event.event_id
    assert Webhook(DEMO_SECRET).verify(body, headers)["id"] == event.event_id


@pytest.mark.amqp
def test_amqp_messages_are_persistent_confirmed_and_routed_by_type_and_gate(
    amqp_url: str, amqp_names: Names
) -> None:
    """Each event is on the bound queue under dossier.<action>.<gate>, persistent, with its id and type."""
    queue = amqp_names.queue()
    bound_queue(amqp_url, amqp_names.exchange, queue)
    publisher = AmqpPublisher(amqp(amqp_url, amqp_names.exchange))
    events = outgoing()
    for event in events:
        publisher.publish(event)
    publisher.close()
    received = drain(amqp_url, queue)
    assert [r.body for r in received] == [e.body for e in events]
    assert [r.routing_key for r in received] == [e.routing_key for e in events]
    for message, event in zip(received, events, strict=True):
        assert message.properties.delivery_mode == PERSISTENT
        assert message.properties.message_id == event.event_id
        assert message.properties.type == event.type
        assert message.properties.content_type == CONTENT_TYPE
        assert schema_errors(json.loads(message.body)) == []


@pytest.mark.amqp
def test_an_event_no_queue_is_bound_for_is_not_counted_delivered(amqp_url: str, amqp_names: Names) -> None:
    """Unroutable (the broker returns it): a transient failure, so the outbox keeps it for later."""
    queue = amqp_names.queue()
    bound_queue(amqp_url, amqp_names.exchange, queue, ("dossier.cleared.*",))
    publisher = AmqpPublisher(amqp(amqp_url, amqp_names.exchange))
    received, *_ = outgoing()
    assert received.type == "dossier.received"
    with pytest.raises(TransientError, match="no queue is bound"):
        publisher.publish(received)
    publisher.close()
    assert drain(amqp_url, queue) == []


@pytest.mark.amqp
def test_a_subscriber_queue_is_declared_and_bound_to_its_types_and_gates(
    amqp_url: str, amqp_names: Names
) -> None:
    """With `queue` set, the publisher declares it bound to the subscriber's filters; events wait there."""
    queue = amqp_names.queue()
    event = outgoing(1)[0]
    data = json.loads(event.body)["data"]
    settings = amqp(
        amqp_url, amqp_names.exchange, queue=queue, types=["dossier.received"], gates=[data["port"]]
    )
    assert queue_bindings(settings) == [f"dossier.received.{data['gate']}"]  # the LOCODE's station
    assert event.routing_key == f"dossier.received.{data['gate']}"
    publisher = AmqpPublisher(settings)
    publisher.publish(event)
    publisher.close()
    assert [r.body for r in drain(amqp_url, queue)] == [event.body]


@pytest.mark.amqp
def test_a_dropped_connection_is_reopened_and_wrong_credentials_refused_at_once(
    amqp_url: str, amqp_names: Names
) -> None:
    """A connection cut under the publisher is reopened on the next publish; a refused login is
    our credentials refused, raised at the first refusal (no second login tried)."""
    queue = amqp_names.queue()
    bound_queue(amqp_url, amqp_names.exchange, queue)
    proxy = DroppingProxy()
    try:
        publisher = AmqpPublisher(amqp(proxy.url(amqp_url), amqp_names.exchange))
        first, second = outgoing(2)
        publisher.publish(first)
        assert proxy.drop() == 1
        publisher.publish(second)
        publisher.close()
    finally:
        proxy.close()
    assert [r.body for r in drain(amqp_url, queue)] == [first.body, second.body]
    wrong = amqp_url.replace("guest:guest@", "guest:wrong@")
    with pytest.raises(AuthenticationRefused, match="credentials"):
        AmqpPublisher(amqp(wrong, amqp_names.exchange)).publish(first)


@pytest.mark.amqp
def test_the_reference_subscriber_consumes_the_feed_and_deduplicates(
    amqp_url: str, amqp_names: Names
) -> None:
    """The subscriber's AMQP consumer keeps each event once, whatever the broker redelivers."""
    source = AmqpSource(amqp_url, amqp_names.queue(), amqp_names.exchange)
    with SubscriberSimulator(amqp=source) as subscriber:
        publisher = AmqpPublisher(amqp(amqp_url, amqp_names.exchange))
        events = outgoing()
        for event in [*events, events[1]]:
            publisher.publish(event)
        publisher.close()
        state = wait_for(lambda: (s := subscriber.admin_state())["counts"]["amqp"] == 4 and s)
    assert [e["event"]["id"] for e in state["events"]] == [e.event_id for e in events]
    assert {e["via"] for e in state["events"]} == {"amqp"}
    assert state["counts"]["duplicates"] == 1
    assert state["counts"]["conflicts"] == 0


def test_a_connection_cut_while_opening_is_transient_and_a_refused_login_a_refusal() -> None:
    """pika calls a connection lost during the login a "probable authentication error": cut (a
    proxy, the network) it is tried again; closed by the broker (403) it is our credentials
    refused (the subscriber paused)."""
    publisher = AmqpPublisher(amqp("amqp://guest:guest@127.0.0.1:9/%2F", "x"))
    lost = pika.exceptions.StreamLostError("Transport indicated EOF")
    refused = pika.exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED - Login was refused")
    for probable in (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError):
        cut = publisher._classify(probable(repr(lost)))
        assert isinstance(cut, TransientError)
        assert not isinstance(cut, AuthenticationRefused)
        assert isinstance(publisher._classify(probable(repr(refused))), AuthenticationRefused)
