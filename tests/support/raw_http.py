"""A bare HTTP/1.1 POST over a socket, so an interop test controls every byte a client sends.

requests and zeep normalise what goes on the wire (Content-Length always, no `Expect`, their
own header spelling); Java's HttpURLConnection and .NET's HttpWebRequest do not: they send
`Expect: 100-continue` and wait for the interim answer, stream chunked bodies, quote or omit
SOAPAction. This writes the request exactly as given and reads the answer with http.client.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class RawResponse:
    """The final answer, and whether a `100 Continue` came first."""

    status: int
    headers: dict[str, str]
    body: bytes
    continued: bool


def _read_interim(sock: socket.socket) -> bytes:
    """One interim response's head, read byte by byte (nothing of the final answer is consumed)."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        head.extend(byte)
    return bytes(head)


def _chunked(body: bytes, size: int) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def post(
    url: str,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    *,
    chunk_size: int | None = None,
    expect_continue: bool = False,
    timeout: float = 15.0,
) -> RawResponse:
    """POST `body` with exactly `headers` (plus Host, and Content-Length unless chunked).

    chunk_size: send `Transfer-Encoding: chunked` in chunks of this many bytes (a size that
    splits multi-byte characters tests that the server joins bytes before decoding them).
    expect_continue: send `Expect: 100-continue` and the body only after the interim 100.
    """
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        *(f"{k}: {v}" for k, v in headers),
    ]
    lines.append("Transfer-Encoding: chunked" if chunk_size else f"Content-Length: {len(body)}")
    if expect_continue:
        lines.append("Expect: 100-continue")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    payload = _chunked(body, chunk_size) if chunk_size else body
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        continued = False
        if expect_continue:
            sock.sendall(head)
            interim = _read_interim(sock)
            continued = interim.startswith(b"HTTP/1.1 100")
            if not continued:  # the server answered at once: that is the final answer
                raise AssertionError(f"no 100 Continue: {interim[:200]!r}")
            sock.sendall(payload)
        else:
            sock.sendall(head + payload)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        data = answer.read()
        return RawResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data, continued)
