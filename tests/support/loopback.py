"""A loopback HTTP server standing where the portal or the NSW should be, answering each POST
with what a test scripts (a hostile peer, a newer portal, a contract sample)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

Answer = Callable[[BaseHTTPRequestHandler], None]


class HostileService:
    """An HTTP server on 127.0.0.1 that answers every POST with `answer`, counting the calls."""

    def __init__(self, answer: Answer) -> None:
        self.calls = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                service.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/service"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], HostileService]]:
    started: list[HostileService] = []

    def start(answer: Answer) -> HostileService:
        started.append(HostileService(answer))
        return started[-1]

    yield start
    for service in started:
        service.close()


def soap(body: bytes, *, prolog: bytes = b"") -> bytes:
    return (
        prolog + b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body>" + body + b"</soap:Body></soap:Envelope>"
    )


def answer_with(payload: bytes) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return answer
