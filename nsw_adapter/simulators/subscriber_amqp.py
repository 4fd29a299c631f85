"""The reference subscriber's AMQP side: a durable queue bound to the feed's exchange, consumed by a thread.

Each message is recorded (deduplicated by its event id) and only then acknowledged, so a
message the subscriber did not keep is redelivered by the broker. A lost connection is
reopened after a short pause until the consumer is stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions

from nsw_adapter.simulators.subscriber_state import SubscriberState, read_event

_log = logging.getLogger(__name__)


class AmqpConsumer:
    """Consumes `queue` (declared durable and bound to `exchange` with `bindings`) into `state`."""

    def __init__(
        self, url: str, exchange: str, queue: str, bindings: Sequence[str], state: SubscriberState
    ) -> None:
        self._parameters = pika.URLParameters(url)
        self._exchange = exchange
        self._queue = queue
        self._bindings = tuple(bindings)
        self._state = state
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="subscriber-amqp", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start consuming; returns once the queue is declared and bound (or raises)."""
        self.declare()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the AMQP consumer did not start")

    def declare(self) -> None:
        """The exchange, the queue and its bindings (idempotent)."""
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
            channel.queue_declare(self._queue, durable=True)
            for key in self._bindings:
                channel.queue_bind(self._queue, self._exchange, routing_key=key)
        finally:
            connection.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except pika.exceptions.AMQPError as exc:
                _log.warning("subscriber: AMQP connection lost (%s); reconnecting", type(exc).__name__)
            self._ready.set()
            self._stop.wait(0.5)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=100)
            channel.basic_consume(self._queue, self._on_message)
            self._ready.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.2)
        finally:
            if connection.is_open:
                connection.close()

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        try:
            event = read_event(body)
        except ValueError:
            self._state.refused("malformed")
            channel.basic_ack(method.delivery_tag)  # never valid: redelivering it cannot help
            return
        self._state.record(body, event, "amqp")
        channel.basic_ack(method.delivery_tag)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
