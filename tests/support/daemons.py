"""Running `nsw-adapter run` as a real subprocess for acceptance tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
EXECUTABLE = Path(sys.executable).parent / "nsw-adapter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """One `nsw-adapter run` process with its settings in the environment."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.args = args
        self.workdir = workdir
        self.intake_port = free_port()
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "NSW_ADAPTER_INTAKE__HOST": "127.0.0.1",
            "NSW_ADAPTER_INTAKE__PORT": str(self.intake_port),
            "NSW_ADAPTER_OBSERVABILITY__PORT": str(self.metrics_port),
            "NSW_ADAPTER_WORKER_ID": name,
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}/nsw/agency"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, *, wait: bool = True) -> None:
        self.starts += 1
        if self.starts == 1:  # the daemon never creates or migrates its store: `db migrate` does
            migrate(self.env)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(EXECUTABLE), "run", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                if (
                    requests.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1).status_code
                    == 200
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not healthy within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a power cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def ensure_stopped(self) -> None:
        """Kill the process if it still runs (a failed test must not leave a daemon behind)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text


def migrate(env: dict[str, str]) -> None:
    """`nsw-adapter db migrate` on the store these settings name (creating it if need be)."""
    subprocess.run([str(EXECUTABLE), "db", "migrate"], env=env, check=True, capture_output=True, timeout=60)


def adapter_env(store_url: str, portal_url: str, nsw_url: str) -> dict[str, str]:
    """Fast settings for a crash run against the simulators (their demo password allowed): short
    leases, polls and backoffs."""
    return {
        "NSW_ADAPTER_ALLOW_DEMO_CREDENTIALS": "true",
        "NSW_ADAPTER_STORE__URL": store_url,
        "NSW_ADAPTER_STORE__LEASE_SECONDS": "3",
        "NSW_ADAPTER_PORTAL__URL": portal_url,
        "NSW_ADAPTER_PORTAL__TIMEOUT_SECONDS": "3",
        "NSW_ADAPTER_PORTAL__RETRY_BUDGET_SECONDS": "600",
        "NSW_ADAPTER_NSW__URL": nsw_url,
        "NSW_ADAPTER_NSW__TIMEOUT_SECONDS": "3",
        "NSW_ADAPTER_NSW__RETRY_BUDGET_SECONDS": "600",
        "NSW_ADAPTER_WORKER__POLL_INTERVAL_SECONDS": "0.3",
        "NSW_ADAPTER_WORKER__IDLE_SECONDS": "0.05",
        "NSW_ADAPTER_WORKER__IN_PROCESS_RETRY_SECONDS": "1",
        "NSW_ADAPTER_WORKER__DEFER_INITIAL_SECONDS": "0.2",
        "NSW_ADAPTER_WORKER__DEFER_MAX_SECONDS": "2",
        "NSW_ADAPTER_WORKER__BREAKER_RESET_SECONDS": "1",
        "NSW_ADAPTER_WORKER__EXPIRY_INTERVAL_SECONDS": "1",
        "NSW_ADAPTER_OBSERVABILITY__LOG_LEVEL": "INFO",
    }
