"""RabbitMQ for the event feed's tests: `amqp_url`, throwaway exchange and queue names, reading a queue.

The broker is at NSW_ADAPTER_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F; `.ci/run`
starts the machine's RabbitMQ when it is not answering). When it cannot be reached every test
needing it errors, naming the URL tried; NSW_ADAPTER_TEST_SKIP_AMQP=1 skips them instead.
Each test's exchange and queues are its own (random names) and deleted afterwards.

Registered as a pytest plugin by tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import pytest

AMQP_URL = os.environ.get("NSW_ADAPTER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SKIP_AMQP = "NSW_ADAPTER_TEST_SKIP_AMQP"


def _amqp_error() -> str | None:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except (pika.exceptions.AMQPError, OSError) as exc:
        return f"{type(exc).__name__}"
    return None


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The test broker's URL (an error naming it when it does not answer, a skip when told to)."""
    error = _amqp_error()
    if error is not None:
        if os.environ.get(SKIP_AMQP) == "1":
            pytest.skip(f"RabbitMQ not reachable ({SKIP_AMQP}=1)")
        pytest.fail(f"RabbitMQ not reachable at {AMQP_URL} ({error}); start it, or set {SKIP_AMQP}=1")
    return AMQP_URL


@dataclass
class Names:
    """A test's own exchange and queue names (deleted when the test ends)."""

    exchange: str = field(default_factory=lambda: f"nswa-test-{uuid.uuid4().hex[:10]}")
    queues: list[str] = field(default_factory=list)

    def queue(self) -> str:
        name = f"nswa-test-{uuid.uuid4().hex[:10]}"
        self.queues.append(name)
        return name


@pytest.fixture
def amqp_names(amqp_url: str) -> Iterator[Names]:
    """Fresh exchange and queue names; whatever was declared under them is deleted afterwards."""
    names = Names()
    yield names
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for queue in names.queues:
            channel.queue_delete(queue)
        channel.exchange_delete(names.exchange)
    finally:
        connection.close()


def bound_queue(url: str, exchange: str, queue: str, keys: tuple[str, ...] = ("#",)) -> None:
    """Declare `exchange` (topic, durable) and a durable `queue` bound to it with `keys`."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(queue, durable=True)
        for key in keys:
            channel.queue_bind(queue, exchange, routing_key=key)
    finally:
        connection.close()


@dataclass(frozen=True)
class Received:
    """One message taken off a queue."""

    routing_key: str
    properties: Any
    body: bytes


def drain(url: str, queue: str) -> list[Received]:
    """Every message now on `queue`, taken off it (acknowledged)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    found: list[Received] = []
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append(Received(method.routing_key, properties, body))
    finally:
        connection.close()


class DroppingProxy:
    """A TCP proxy to the broker whose connections a test can cut at any moment (`drop()`)."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self._target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, amqp_url: str) -> str:
        """`amqp_url` with the proxy's address in place of the broker's."""
        parts = pika.URLParameters(amqp_url)
        user = parts.credentials.username
        password = parts.credentials.password
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/%2F"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def drop(self) -> int:
        """Cut every connection through the proxy now; how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        return len(pairs)

    def close(self) -> None:
        self._closed = True
        self._server.close()
        self.drop()


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `condition()` until it is truthy (returned) or `timeout` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s")
