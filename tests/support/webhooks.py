"""A tiny HTTPS receiver for the webhook publisher's TLS tests (certificates from tls_loopback.py)."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.tls_loopback import TlsFiles


@dataclass
class Captured:
    """What an HTTPS receiver was sent: each request's headers and body."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


class HttpsReceiver:
    """An HTTPS server on 127.0.0.1 that answers every POST 204 and keeps what it was sent."""

    def __init__(self, files: TlsFiles) -> None:
        captured = self.captured = Captured()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                captured.requests.append((dict(self.headers.items()), self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.server_certificate, files.server_key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/hooks"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
