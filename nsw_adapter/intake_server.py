"""The intake alone on a port, on a store of its own choosing: for tests, benchmarks and demos.

`python -m nsw_adapter.intake_server --store URL [--port 0] ...` migrates the store, serves
receiveMessage until interrupted, and prints `listening on <url>` once it listens (port 0 picks
a free one). The daemon (`nsw-adapter run`) serves the intake with everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from nsw_adapter.intake import create_intake_app
from nsw_adapter.logging import configure_logging
from nsw_adapter.settings import Credentials, IntakeSettings
from nsw_adapter.store import Store, open_store


async def serve(store: Store, settings: IntakeSettings, *, announce: Callable[[str], None] = print) -> None:
    """Serve receiveMessage until cancelled; announce the URL once listening (port 0 picks one)."""
    runner = web.AppRunner(create_intake_app(store, settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    server = site._server
    port = server.sockets[0].getsockname()[1] if isinstance(server, asyncio.Server) else settings.port
    announce(f"listening on http://{settings.host}:{port}{settings.path}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def parser() -> argparse.ArgumentParser:
    defaults = IntakeSettings()
    found = argparse.ArgumentParser(prog="python -m nsw_adapter.intake_server", description=__doc__)
    found.add_argument("--store", required=True, help="store URL (sqlite:///... or postgresql+psycopg://...)")
    found.add_argument("--host", default="127.0.0.1")
    found.add_argument("--port", type=int, default=8800)
    found.add_argument("--path", default="/nsw/agency")
    found.add_argument("--user", default="demo")
    found.add_argument("--password", default="demo")
    found.add_argument("--max-bytes", type=int, default=defaults.max_message_bytes)
    found.add_argument("--threads", type=int, default=defaults.threads)
    found.add_argument("--log-level", default="info", help="JSON log lines on stderr from this level")
    found.add_argument(
        "--signature-policy",
        default=defaults.signature_policy,
        choices=["off", "verify-if-present", "required"],
    )
    found.add_argument(
        "--trust-store", type=Path, default=None, help="PEM file of the CA certificates trusted"
    )
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the stand-alone intake until interrupted."""
    args = parser().parse_args(argv)
    configure_logging(args.log_level, "json")
    settings = IntakeSettings(
        host=args.host,
        port=args.port,
        path=args.path,
        max_message_bytes=args.max_bytes,
        threads=args.threads,
        signature_policy=args.signature_policy,
        trust_store=args.trust_store,
        credentials=Credentials(username=args.user, password=SecretStr(args.password)),
    )
    store = open_store(args.store, migrate=True)

    def announce(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        asyncio.run(serve(store, settings, announce=announce))
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
