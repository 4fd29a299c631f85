"""Settings refuse mistakes at every level, in one line naming the key and where it was set."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from nsw_adapter.cli import config as config_module
from nsw_adapter.cli.config import load_config
from nsw_adapter.errors import ConfigurationError
from nsw_adapter.settings import Settings, demo_credentials

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "adapter.toml"


@pytest.fixture(autouse=True)
def _no_settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NSW_ADAPTER_* variable of the caller's shell, and no /etc file, leaks into the settings."""
    for name in list(os.environ):
        if name.startswith("NSW_ADAPTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG", tmp_path / "etc-absent.toml")


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "adapter.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ('[intake.credentials]\nusername = "nsw"\npasword = "x"\n', "intake.credentials.pasword", "password"),
        ('[store]\nuri = "sqlite:///x.db"\n', "store.uri", "url"),
        ("[portal]\ntimout_seconds = 5\n", "portal.timout_seconds", "timeout_seconds"),
    ],
)
def test_a_nested_typo_is_refused_naming_the_key_the_file_and_the_likely_key(
    tmp_path: Path, text: str, key: str, hint: str
) -> None:
    """A misspelt key inside a table is an error (not a silent default), naming file, key and suggestion."""
    message = _refusal(tmp_path, text)
    assert f"{tmp_path / 'adapter.toml'}: {key}: unknown setting (did you mean {hint}?)" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[worker]\nclaim_batch = -1\n", "worker.claim_batch"),
        ("[intake]\nport = 99999\n", "intake.port"),
        ('[observability]\nlog_format = "text"\n', "observability.log_format"),
        ('[observability]\nlog_level = "LOUD"\n', "observability.log_level"),
        ('[store]\nurl = "var/adapter.db"\n', "store.url"),
        ('[store]\nurl = "sqlite://"\n', "store.url"),
        ('[portal]\nurl = "portal.example/bgp"\n', "portal.url"),
        ("[portal]\ntimeout_seconds = 0\n", "portal.timeout_seconds"),
    ],
)
def test_values_out_of_range_or_not_among_the_choices_are_refused(
    tmp_path: Path, text: str, key: str
) -> None:
    """Ranges, choices and URLs are checked: each error names its key, never echoing the value."""
    message = _refusal(tmp_path, text)
    assert f": {key}: " in message
    assert "99999" not in message
    assert "portal.example" not in message


def test_a_bad_value_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error coming from NSW_ADAPTER_* names that variable instead of the file."""
    monkeypatch.setenv("NSW_ADAPTER_WORKER__CLAIM_BATCH", "0")
    message = _refusal(tmp_path, "[worker]\nclaim_batch = 8\n")
    assert "NSW_ADAPTER_WORKER__CLAIM_BATCH: worker.claim_batch:" in message


def test_the_settings_file_defaults_to_nsw_adapter_config_then_etc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config: NSW_ADAPTER_CONFIG names the file; else /etc/nsw-adapter/adapter.toml if present."""
    etc = tmp_path / "etc.toml"
    etc.write_text("[intake]\nport = 9001\n", encoding="utf-8")
    named = tmp_path / "named.toml"
    named.write_text("[intake]\nport = 9002\n", encoding="utf-8")
    assert load_config(None).intake.port == 8800  # neither: defaults
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG", etc)
    assert load_config(None).intake.port == 9001
    monkeypatch.setenv("NSW_ADAPTER_CONFIG", str(named))
    assert load_config(None).intake.port == 9002
    monkeypatch.setenv("NSW_ADAPTER_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigurationError, match=r"gone.toml \(named by NSW_ADAPTER_CONFIG"):
        load_config(None)


def test_the_demo_password_is_found_wherever_it_is(tmp_path: Path) -> None:
    """The simulators' password is reported for each credential that holds it, and only those."""
    path = tmp_path / "adapter.toml"
    path.write_text(
        '[intake.credentials]\nusername = "nsw"\npassword = "real"\n'
        '[intake.previous_credentials]\nusername = "nsw"\npassword = "demo"\n'
        '[portal.credentials]\nusername = "bgp"\npassword = "real"\n',
        encoding="utf-8",
    )
    assert demo_credentials(load_config(path)) == ["intake.previous_credentials", "nsw.credentials"]


def _flat(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """Every setting as a dotted key and its default (tables of None default as the table's key)."""
    found: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            found |= _flat(value, key + ".")
        else:
            found[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return found


def _flat_toml(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            found |= _flat_toml(value, f"{prefix}{name}.")
        else:
            found[f"{prefix}{name}"] = value
    return found


def test_the_example_configuration_lists_every_setting_at_its_default() -> None:
    """examples/adapter.toml holds every setting with its default (None ones commented), and nothing else."""
    text = EXAMPLE.read_text(encoding="utf-8")
    example = _flat_toml(tomllib.loads(text))
    defaults = _flat(Settings())
    commented = set()
    section = ""
    for line in text.splitlines():
        stripped = line.lstrip("# ").split("  #")[0].strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1] + "."
            if line.startswith("#"):  # a table whose default is none
                commented.add(stripped[1:-1])
        elif line.startswith("#") and stripped.endswith("="):
            commented.add(section + stripped.rstrip("= ").strip())
    for key, default in defaults.items():
        if default is None:
            assert key in commented, f"{key} (default none) is missing from {EXAMPLE.name} as a comment"
            continue
        assert key in example, f"{key} is missing from {EXAMPLE.name}"
        wanted = list(default) if isinstance(default, tuple) else default
        wanted = str(wanted) if isinstance(wanted, Path) else wanted
        assert example[key] == wanted, (
            f"{key}: {EXAMPLE.name} says {example[key]!r}, the default is {wanted!r}"
        )
    assert set(example) <= set(defaults), f"unknown keys: {sorted(set(example) - set(defaults))}"
    load_config(EXAMPLE)  # and it loads
