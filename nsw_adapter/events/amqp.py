"""AMQP delivery (RabbitMQ, with pika): persistent messages on a topic exchange, publisher confirms.

Each event is published to the subscriber's exchange (`topic`, durable; declared if missing)
under `dossier.<action>.<gate>`, persistent (delivery mode 2), `mandatory`, with the event id
as `message_id` and its type as `type`; the body is the structured-mode CloudEvent. The channel
is in confirm mode, so `publish` returns only once the broker has taken responsibility for the
message: a nack, or a message no queue is bound for (returned as unroutable), is tried again
later rather than counted as delivered. With `queue` set, that durable queue is declared and
bound to the subscriber's types (and gates), so nothing is lost while its consumer is away.

pika's BlockingConnection is the client: the delivery loops are threads that block on their
calls (as with the portal and the NSW), and a confirm is then simply the publish returning.
A connection is per publisher (per thread); a dropped one is reopened on the next publish.
The broker refusing our credentials (or the virtual host) pauses the subscriber rather than
giving its events up (AuthenticationRefused, loops/delivery.py), and is never retried at once:
each try is a failed login there.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pika
import pika.exceptions

from nsw_adapter.clients.errors import RemotePermanentError, RemoteTransientError, refused
from nsw_adapter.codelists import codelists
from nsw_adapter.errors import AuthenticationRefused
from nsw_adapter.events.config import DEFAULT_EXCHANGE, SubscriberSettings
from nsw_adapter.events.event import CONTENT_TYPE
from nsw_adapter.events.publisher import OutgoingEvent
from nsw_adapter.events.types import ALL_TYPES
from nsw_adapter.tls import client_context

PERSISTENT = 2
#: Channel-closing reply codes that retrying cannot cure: access refused, not found, a
#: declaration at odds with what exists (the exchange is of another type).
_PERMANENT_REPLIES = frozenset({403, 404, 406})


def connection_parameters(subscriber: SubscriberSettings) -> Any:
    """pika's parameters from the subscriber's URL, its timeout and (amqps://) its TLS settings."""
    parameters = pika.URLParameters(subscriber.url)
    parameters.socket_timeout = subscriber.timeout_seconds
    parameters.stack_timeout = subscriber.timeout_seconds
    parameters.blocked_connection_timeout = subscriber.timeout_seconds
    parameters.connection_attempts = 1
    if urlsplit(subscriber.url).scheme == "amqps":
        context = client_context(
            ca_bundle=subscriber.ca_bundle,
            certificate=subscriber.client_certificate,
            key=subscriber.client_key,
        )
        parameters.ssl_options = pika.SSLOptions(context, server_hostname=urlsplit(subscriber.url).hostname)
    return parameters


def queue_bindings(subscriber: SubscriberSettings) -> list[str]:
    """The routing keys the subscriber's own queue is bound with: its types at its gates (or any)."""
    actions = [t.action for t in (subscriber.types or ALL_TYPES)]
    if subscriber.gates is None:
        gates = ["*"]
    else:  # a LOCODE names its gate's station code, which is what routing keys carry
        stations = codelists().station_by_locode
        gates = sorted({stations.get(g, g) for g in subscriber.gates})
    return [f"dossier.{action}.{gate}" for action in actions for gate in gates]


class AmqpPublisher:
    """Publishes events to one AMQP subscriber over one connection, confirmed one by one."""

    def __init__(self, subscriber: SubscriberSettings) -> None:
        self.name = subscriber.name
        self._subscriber = subscriber
        self._exchange = subscriber.exchange or DEFAULT_EXCHANGE
        self._parameters = connection_parameters(subscriber)
        self._connection: Any = None
        self._channel: Any = None

    def _open(self) -> Any:
        """The confirming channel, opened (with the exchange and any queue declared) when needed."""
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
            queue = self._subscriber.queue
            if queue is not None:
                channel.queue_declare(queue, durable=True)
                for key in queue_bindings(self._subscriber):
                    channel.queue_bind(queue, self._exchange, routing_key=key)
        except BaseException:
            _close_quietly(connection)
            raise
        self._connection, self._channel = connection, channel
        return channel

    def publish(self, event: OutgoingEvent) -> None:
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=PERSISTENT,
            message_id=event.event_id,
            type=event.type,
            timestamp=int(time.time()),
            app_id="nsw-adapter",
        )
        # A connection left idle may have been closed by the broker (missed heartbeats): one
        # fresh connection is tried at once before the failure counts.
        reused = self._channel is not None and self._channel.is_open
        for last in (not reused, True):
            try:
                channel = self._open()
                channel.basic_publish(
                    self._exchange, event.routing_key, event.body, properties=properties, mandatory=True
                )
                return
            except pika.exceptions.UnroutableError:
                raise RemoteTransientError(
                    f"amqp {self.name}: no queue is bound for {event.routing_key} (message returned)"
                ) from None
            except pika.exceptions.NackError:
                raise RemoteTransientError(
                    f"amqp {self.name}: the broker refused the message (nack)"
                ) from None
            except Exception as exc:
                self.close()
                error = self._classify(exc)
                if last or isinstance(error, RemotePermanentError | AuthenticationRefused):
                    raise error from None

    def _classify(
        self, exc: BaseException
    ) -> RemoteTransientError | RemotePermanentError | AuthenticationRefused:
        where = f"amqp {self.name}"
        if _cut_during_handshake(exc):
            return RemoteTransientError(f"{where}: connection lost while opening it")
        if isinstance(exc, pika.exceptions.ProbableAuthenticationError | pika.exceptions.AuthenticationError):
            return refused(f"subscriber {self.name}", "AUTH", None)
        if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
            return refused(f"subscriber {self.name}", "ACCESS", None)
        if isinstance(exc, pika.exceptions.ChannelClosedByBroker) and exc.reply_code in _PERMANENT_REPLIES:
            return RemotePermanentError(
                f"{where}: the broker closed the channel ({exc.reply_code})", code=f"AMQP-{exc.reply_code}",
                status=None,
            )  # fmt: skip
        return RemoteTransientError(f"{where}: connection failed ({type(exc).__name__})")

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            _close_quietly(connection)


def _cut_during_handshake(exc: BaseException) -> bool:
    """pika names a connection lost while it authenticates (or opens the virtual host) a "probable"
    authentication (access) error; only the broker closing it is one. A cut connection (the
    network, a proxy, a broker restart) is tried again, not given up on."""
    probable = pika.exceptions.ProbableAuthenticationError | pika.exceptions.ProbableAccessDeniedError
    return isinstance(exc, probable) and "StreamLostError" in str(exc)


def _close_quietly(connection: Any) -> None:
    try:
        if connection.is_open:
            connection.close()
    except Exception:  # noqa: S110 - a broken connection is being dropped either way
        pass
