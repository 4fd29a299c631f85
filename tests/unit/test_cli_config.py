"""A missing or invalid --config file is a one-line error on stderr with exit code 2, for every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nsw_adapter.cli import main
from nsw_adapter.cli.storage import load_config

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [["purge"], ["db", "migrate"], ["run"], ["status"], ["dlq", "list"], ["dlq", "retry", "--all"]]


@pytest.fixture(autouse=True)
def _no_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NSW_ADAPTER_* variable of the caller's shell leaks into the settings."""
    for name in list(os.environ):
        if name.startswith("NSW_ADAPTER_"):
            monkeypatch.delenv(name)


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("nsw-adapter: ")
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_missing_config_file_is_a_one_line_usage_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --config path that is not a file exits 2 with one line on stderr naming it."""
    missing = tmp_path / "missing.toml"
    assert main([*command, "--config", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert _one_line(captured.err) == f"nsw-adapter: no settings file at {missing}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unparsable_toml_is_a_one_line_usage_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --config file that is not TOML exits 2 with one line saying so."""
    broken = tmp_path / "adapter.toml"
    broken.write_text("[store\nurl = \n", encoding="utf-8")
    assert main([*command, "--config", str(broken)]) == 2
    assert "is not valid TOML" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_invalid_setting_names_the_key_but_not_the_value(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A setting of the wrong type exits 2 with one line naming the key, never echoing the value given."""
    invalid = tmp_path / "adapter.toml"
    invalid.write_text('[intake]\nport = "s3cret-not-a-port"\n', encoding="utf-8")
    assert main([*command, "--config", str(invalid)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "intake.port" in line
    assert "s3cret" not in line


def test_unknown_top_level_key_and_bad_env_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown top-level keys and invalid NSW_ADAPTER_* values raise ConfigurationError, not a traceback."""
    from nsw_adapter.errors import ConfigurationError

    unknown = tmp_path / "adapter.toml"
    unknown.write_text("[stroe]\nurl = 'sqlite://'\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="stroe"):
        load_config(unknown)
    monkeypatch.setenv("NSW_ADAPTER_INTAKE__PORT", "hunter2")
    with pytest.raises(ConfigurationError, match="NSW_ADAPTER_") as caught:
        load_config(None)
    assert "hunter2" not in str(caught.value)


def test_valid_config_file_loads(tmp_path: Path) -> None:
    """A readable, valid file gives its settings, the rest staying at their defaults."""
    good = tmp_path / "adapter.toml"
    good.write_text("[intake]\nport = 9900\n", encoding="utf-8")
    settings = load_config(good)
    assert settings.intake.port == 9900
    assert settings.intake.path == "/nsw/agency"


def test_entry_point_prints_no_traceback_for_a_missing_config(tmp_path: Path) -> None:
    """`python -m nsw_adapter purge --config missing.toml` exits 2 with one line on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSW_ADAPTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "nsw_adapter", "purge", "--config", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    _one_line(done.stderr)


def test_roles_come_from_the_file_the_environment_and_none_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`roles` defaults to both; a file or NSW_ADAPTER_ROLES narrows it; an empty list is an error."""
    assert load_config(None).roles == ("intake", "worker")
    config = tmp_path / "adapter.toml"
    config.write_text('roles = ["worker"]\n[store]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    assert load_config(config).roles == ("worker",)
    monkeypatch.setenv("NSW_ADAPTER_ROLES", '["intake"]')
    assert load_config(config).roles == ("intake",)
    config.write_text("roles = []\n", encoding="utf-8")
    monkeypatch.delenv("NSW_ADAPTER_ROLES")
    assert main(["run", "--config", str(config)]) == 2
    assert "roles" in _one_line(capsys.readouterr().err)
