"""What port IT meets deploying: read-only commands that create nothing, expected failures in one
line with their own exit code, SIGHUP, --version and help everywhere, the daemon's start line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nsw_adapter.cli import build_parser, main, parsers
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.store import open_store
from nsw_adapter.store import tables as t
from nsw_adapter.store.migrations import LATEST
from tests.support.daemons import EXECUTABLE, Daemon, adapter_env, free_port, migrate

READ_ONLY = [["status"], ["dlq", "list"], ["dlq", "retry", "--all"], ["purge"], ["audit", "verify"]]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without NSW_ADAPTER_* (the caller's shell must not leak in)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("NSW_ADAPTER_")}, **extra}


def run(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXECUTABLE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=90, check=False
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_in_an_empty_folder_creates_nothing(command: list[str], tmp_path: Path) -> None:
    """Without a store, status / dlq / purge / audit say "no store at X: wrong --config?", exit 3, and
    leave the folder empty (no ./var, no database file)."""
    done = run(*command, env=clean_env(NSW_ADAPTER_CONFIG=""), cwd=tmp_path)
    assert done.returncode == 3
    assert one_line(done.stderr) == (
        "nsw-adapter: no store at var/nsw-adapter.db: wrong --config? (`nsw-adapter db migrate` creates one)"
    )
    assert list(tmp_path.iterdir()) == []


def test_only_db_migrate_changes_the_schema(sqlite_url: str, tmp_path: Path) -> None:
    """A store at an older schema is left as it is by status (exit 3, "run nsw-adapter db migrate");
    a newer schema is refused; `db migrate` brings an older one up to date."""
    store = open_store(sqlite_url, migrate=True)
    with store.engine.begin() as c:
        c.execute(t.schema_version.delete().where(t.schema_version.c.version == LATEST))
    store.close()
    env = clean_env(NSW_ADAPTER_STORE__URL=sqlite_url)
    older = run("status", env=env)
    assert older.returncode == 3
    assert f"needs {LATEST}: run `nsw-adapter db migrate`" in one_line(older.stderr)
    assert run("status", env=env).returncode == 3  # status changed nothing
    assert run("db", "migrate", env=env).returncode == 0
    assert run("status", env=env).returncode == 0
    store = open_store(sqlite_url)
    with store.engine.begin() as c:
        future = {"version": LATEST + 1, "name": "future", "applied_at": datetime.now(UTC)}
        c.execute(t.schema_version.insert().values(**future))
    store.close()
    newer = run("status", env=env)
    assert newer.returncode == 3
    assert "newer than this nsw-adapter knows" in one_line(newer.stderr)


def test_an_unreachable_database_is_one_line_and_exit_4(tmp_path: Path) -> None:
    """A PostgreSQL that does not answer: `run` retries for start_wait_seconds, saying so, then exits 4
    with one line; `status` exits 4 with one line at once."""
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    env = clean_env(NSW_ADAPTER_STORE__URL=url, NSW_ADAPTER_ALLOW_DEMO_CREDENTIALS="true")
    status = run("status", env=env)
    assert status.returncode == 4
    assert one_line(status.stderr).startswith(
        "nsw-adapter: cannot reach the store at postgresql+psycopg://nobody@"
    )
    daemon = run("run", env={**env, "NSW_ADAPTER_STORE__START_WAIT_SECONDS": "1.5"})
    assert daemon.returncode == 4
    lines = daemon.stderr.strip().splitlines()
    assert "Traceback" not in daemon.stderr
    waits = [json.loads(line) for line in lines[:-1]]
    assert waits
    assert [w["event"] for w in waits] == ["daemon.store_unreachable"] * len(waits)
    assert lines[-1].startswith("nsw-adapter: cannot reach the store at")


def test_a_busy_port_is_one_line_and_exit_5_before_any_loop_starts(tmp_path: Path, sqlite_url: str) -> None:
    """The intake port already taken: exit 5, one line naming host:port, and no loop ever ran."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = adapter_env(sqlite_url, "http://127.0.0.1:9/bgp/portal", "http://127.0.0.1:9/nsw/gateway")
        env = clean_env(**env, NSW_ADAPTER_INTAKE__PORT=str(port), NSW_ADAPTER_OBSERVABILITY__PORT="0")
        migrate(env)
        done = run("run", env=env)
    assert done.returncode == 5
    assert "Traceback" not in done.stderr
    *logged, last = done.stderr.strip().splitlines()
    assert last == f"nsw-adapter: cannot listen on 127.0.0.1:{port} (intake): address already in use"
    events = {json.loads(line)["event"] for line in logged}
    assert not {e for e in events if e.startswith(("submit.", "poll.", "outbox.", "daemon.started"))}


def test_the_simulators_demo_password_is_refused_unless_allowed(sqlite_url: str) -> None:
    """`run` with the default (demo) credentials exits 2 naming each setting that holds them."""
    env = clean_env(NSW_ADAPTER_STORE__URL=sqlite_url)
    migrate(env)
    done = run("run", env=env)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "intake.credentials, portal.credentials, nsw.credentials: the simulators' demo password" in line
    assert "allow_demo_credentials" in line


def test_a_bad_store_url_is_a_settings_error(tmp_path: Path) -> None:
    """A store URL without its scheme is one line naming store.url, exit 2 (no traceback)."""
    done = run("status", env=clean_env(NSW_ADAPTER_STORE__URL="var/adapter.db"), cwd=tmp_path)
    assert done.returncode == 2
    assert "NSW_ADAPTER_STORE__URL: store.url: Value error, must be sqlite:///PATH" in one_line(done.stderr)


def test_a_closed_pipe_ends_the_command_quietly(sqlite_url: str) -> None:
    """`status | head` with the reader gone before it writes: exit 141, nothing on stderr."""
    env = clean_env(NSW_ADAPTER_STORE__URL=sqlite_url)
    migrate(env)
    process = subprocess.Popen(
        [str(EXECUTABLE), "status"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader goes away before the command writes
    assert process.wait(60) == 141
    assert process.stderr.read() == b""


@pytest.mark.timeout(120)
def test_sighup_stops_the_daemon_gracefully_after_a_start_line(tmp_path: Path, sqlite_url: str) -> None:
    """The start line names version, roles, endpoints and config (no password); SIGHUP stops it, exit 0;
    /metrics has build_info, process metrics, intake counters and no _created samples."""
    env = adapter_env(sqlite_url, "http://127.0.0.1:9/bgp/portal", "http://127.0.0.1:9/nsw/gateway")
    env["NSW_ADAPTER_PORTAL__CREDENTIALS__PASSWORD"] = "portal-Secret-1"
    daemon = Daemon(tmp_path, "hup", env)
    daemon.start()
    try:
        exposition = daemon.metrics()
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        code = daemon.process.wait(30)
    finally:
        daemon.ensure_stopped()
    assert code == 0
    log = daemon.log_path.read_text(encoding="utf-8")
    assert "portal-Secret-1" not in log
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "daemon.started")
    assert started["roles"] == ["intake", "worker"]
    assert started["intake"] == f"http://127.0.0.1:{daemon.intake_port}/nsw/agency"
    assert started["observability"] == f"http://127.0.0.1:{daemon.metrics_port}"
    assert started["version"]
    assert started["config"].startswith("none")
    assert {"event": "daemon.signal", "signal": "SIGHUP"}.items() <= next(
        e for e in events if e["event"] == "daemon.signal"
    ).items()
    assert events[-1]["event"] == "daemon.stopped"
    samples = {s.name for family in text_string_to_metric_families(exposition) for s in family.samples}
    assert {
        "nsw_adapter_build_info",
        "process_cpu_seconds_total",
        "nsw_adapter_intake_pushes_total",
    } <= samples
    assert "_created" not in exposition


def test_every_command_has_a_description_help_on_every_flag_and_version() -> None:
    """Each parser has a description and --version; each option and argument has help text."""
    for parser in parsers(build_parser()):
        assert parser.description, parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue  # its choices are the commands, each with its help
            if action.dest != "help" and action.help is None and action.option_strings:
                pytest.fail(f"{parser.prog} {action.option_strings}: no help")
            if not action.option_strings and action.help is None and action.dest != "command":
                pytest.fail(f"{parser.prog} {action.dest}: no help")
        assert any("--version" in action.option_strings for action in parser._actions), parser.prog


def test_version_works_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`nsw-adapter --version` and `nsw-adapter dlq retry --version` print the version, exit 0."""
    for argv in (["--version"], ["status", "--version"], ["dlq", "retry", "--version"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 0
        assert capsys.readouterr().out.startswith("nsw-adapter ")


def test_db_migrate_creates_the_store_and_then_says_it_is_up_to_date(sqlite_url: str) -> None:
    """`db migrate` reports what it applied, then that the store is up to date at this version's schema."""
    env = clean_env(NSW_ADAPTER_STORE__URL=sqlite_url)
    first = run("db", "migrate", env=env)
    assert first.stdout.startswith("migrated: applied [1,")
    assert run("db", "migrate", env=env).stdout.strip() == f"up to date (schema version {LATEST})"


def test_config_check_prints_one_line_per_dependency(tmp_path: Path, sqlite_url: str) -> None:
    """`config check`: ok lines for the settings, a migrated store, a portal accepting our credentials
    and a reachable NSW (exit 0); a wrong portal password and a missing store each FAILED (exit 1)."""
    with PortalSimulator(credentials={"bgp": "portal-Pw-1"}) as portal, NswSimulator() as nsw:
        env = clean_env(
            NSW_ADAPTER_STORE__URL=sqlite_url,
            NSW_ADAPTER_PORTAL__URL=portal.url,
            NSW_ADAPTER_PORTAL__CREDENTIALS__USERNAME="bgp",
            NSW_ADAPTER_PORTAL__CREDENTIALS__PASSWORD="portal-Pw-1",
            NSW_ADAPTER_NSW__URL=nsw.url,
            NSW_ADAPTER_ALLOW_DEMO_CREDENTIALS="true",
        )
        migrate(env)
        good = run("config", "check", env=env)
        wrong = run(
            "config",
            "check",
            env={
                **env,
                "NSW_ADAPTER_PORTAL__CREDENTIALS__PASSWORD": "nope",
                "NSW_ADAPTER_STORE__URL": "sqlite:///x.db",
            },
            cwd=tmp_path,
        )
    assert good.returncode == 0, good.stdout
    lines = dict(line.split(None, 2)[:2] for line in good.stdout.splitlines())
    assert lines == {"settings": "ok", "credentials": "ok", "store": "ok", "portal": "ok", "nsw": "ok"}
    assert "credentials accepted" in good.stdout
    assert wrong.returncode == 1
    failed = {line.split(None, 2)[0]: line for line in wrong.stdout.splitlines() if " FAILED " in line}
    assert set(failed) == {"store", "portal"}
    assert "refused our credentials (AUTH)" in failed["portal"]
    assert "no store at x.db" in failed["store"]
    assert not (tmp_path / "x.db").exists()
    assert "nope" not in wrong.stdout + wrong.stderr


def test_the_commands_own_log_lines_follow_the_configured_format(tmp_path: Path) -> None:
    """`db migrate` logs its store.migrated line as JSON by default and as console text when
    observability.log_format says so, on stderr."""
    as_json = run("db", "migrate", env=clean_env(NSW_ADAPTER_STORE__URL=f"sqlite:///{tmp_path}/a.db"))
    assert json.loads(as_json.stderr.strip().splitlines()[-1])["event"] == "store.migrated"
    console = clean_env(
        NSW_ADAPTER_STORE__URL=f"sqlite:///{tmp_path}/b.db", NSW_ADAPTER_OBSERVABILITY__LOG_FORMAT="console"
    )
    line = run("db", "migrate", env=console).stderr.strip().splitlines()[-1]
    assert "store.migrated" in line
    assert not line.startswith("{")
