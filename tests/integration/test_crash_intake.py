"""Crash tests: the intake server SIGKILLed at random moments while the NSW pushes and re-pushes.

A client pushes like the NSW (each message again and again until it is answered 99, and now
and then once more after that, as if the answer had been lost) while the server process is
killed with SIGKILL at random moments and restarted. Afterwards every acknowledged message is
stored exactly once and every dossier has assembled.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from nsw_adapter.store import DossierState, open_store
from nsw_adapter.store import tables as t
from nsw_adapter.testing.pushes import PASSWORD, USER, XML, soap_body

ROOT = Path(__file__).resolve().parents[2]
CARGO = ROOT / "fixtures" / "samples" / "nsw" / "valid" / "arrival-general-cargo"
DOSSIERS = 40
KILLS = 4
DEADLINE_SECONDS = 45


def messages(dossiers: int) -> list[tuple[str, str, str]]:
    """(messageId, reference, envelope) for `dossiers` cargo arrivals of three documents each."""
    found = []
    for i in range(dossiers):
        reference = f"HPH-2026-C{i:05d}"
        for n, path in enumerate(sorted(CARGO.glob("*.xml"))):
            text = path.read_text("utf-8")
            old_id = re.search(r"<messageId>([^<]+)</messageId>", text)
            assert old_id is not None
            message_id = f"NSWC{i:05d}{n}"
            text = text.replace(old_id.group(1), message_id).replace("HPH-2026-000123", reference)
            found.append((message_id, reference, text))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """The intake server as a real process, restartable on the same port."""

    def __init__(self, store_url: str, port: int, log: Path) -> None:
        self.store_url, self.port, self.log = store_url, port, log
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "nsw_adapter.intake_server", "--store", self.store_url,
            "--port", str(self.port), "--user", USER, "--password", PASSWORD, "--threads", "4",
        ]  # fmt: skip
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, f"the server did not start: {line!r}"

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def push_until_acknowledged(url: str, envelope: str, rng: random.Random, stop: threading.Event) -> int:
    """Push like the NSW until answered 99; sometimes once more. Returns how many pushes it took."""
    pushes = 0
    while not stop.is_set():
        pushes += 1
        try:
            reply = requests.post(url, headers=XML, data=soap_body(envelope), timeout=5)
            if reply.status_code == 200 and b"&lt;function&gt;99&lt;/function&gt;" in reply.content:
                if rng.random() < 0.15:  # the 99 was "lost": the NSW pushes again
                    requests.post(url, headers=XML, data=soap_body(envelope), timeout=5)
                    pushes += 1
                return pushes
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError("gave up pushing")


def run_crash_scenario(store_url: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    batch = messages(DOSSIERS)
    rng.shuffle(batch)  # documents of a dossier arrive in any order
    port = free_port()
    url = f"http://127.0.0.1:{port}/nsw/agency"
    server = Server(store_url, port, tmp_path / "server.log")
    server.start()
    stop = threading.Event()
    acknowledged: list[str] = []
    pushes: list[int] = []
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(8) as pool:

            def push(item: tuple[str, str, str]) -> str:
                own = random.Random(zlib.crc32(item[0].encode()) ^ seed)
                time.sleep(own.uniform(0, 0.05))  # the NSW's pushes trickle in
                pushes.append(push_until_acknowledged(url, item[2], own, stop))
                return item[0]

            futures = [pool.submit(push, item) for item in batch]
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.1, 0.6))
                server.kill()
                time.sleep(rng.uniform(0.0, 0.3))
                server.start()
            for future in futures:
                remaining = DEADLINE_SECONDS - (time.monotonic() - started)
                acknowledged.append(future.result(timeout=max(remaining, 1)))
    finally:
        stop.set()
        server.stop()

    store = open_store(store_url)
    try:
        with store.engine.connect() as c:
            counts: dict[str, int] = dict(
                c.execute(
                    select(t.messages.c.message_id, func.count())
                    .where(t.messages.c.direction == "in")
                    .group_by(t.messages.c.message_id)
                ).all()
            )
        assert sorted(acknowledged) == sorted(m for m, _, _ in batch)
        assert sum(pushes) > len(batch)  # the kills did interrupt pushes: some were pushed again
        assert {m: counts.get(m, 0) for m in acknowledged} == dict.fromkeys(acknowledged, 1)
        for reference in {r for _, r, _ in batch}:
            view = store.describe(reference, "1")
            assert view is not None, reference
            assert view.state is DossierState.READY, (reference, view.state)
            assert set(view.documents) == {"50", "51", "64"}
    finally:
        store.close()


@pytest.mark.slow
def test_sigkilled_sqlite_intake_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    """SQLite: after random SIGKILLs, every message answered 99 is stored once; every dossier is READY."""
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    run_crash_scenario(f"sqlite:///{tmp_path / 'var' / 'crash.db'}", tmp_path, seed)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkilled_postgresql_intake_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, pg_url: str
) -> None:
    """PostgreSQL: after random SIGKILLs, every message answered 99 is stored once; every dossier is READY."""
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    run_crash_scenario(pg_url, tmp_path, seed)
