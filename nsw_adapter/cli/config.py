"""Finding and reading the settings file, each mistake reported in one line naming the key and where it is.

Which file: `--config FILE`, else the file named by NSW_ADAPTER_CONFIG, else
/etc/nsw-adapter/adapter.toml when it exists, else none (defaults and the environment only).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import TypeGuard

from pydantic import BaseModel, ValidationError

from nsw_adapter.errors import ConfigurationError
from nsw_adapter.settings import Settings, load_settings

#: Where a deployed daemon's settings live when neither --config nor NSW_ADAPTER_CONFIG names a file.
DEFAULT_CONFIG = Path("/etc/nsw-adapter/adapter.toml")
CONFIG_ENV = "NSW_ADAPTER_CONFIG"
_ENV_PREFIX = "NSW_ADAPTER_"
_SHOWN = 3  # errors listed in the one line; the rest are counted


def find_config(explicit: Path | None) -> Path | None:
    """The settings file to read: --config, NSW_ADAPTER_CONFIG, the default path if present, or none."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigurationError(f"no settings file at {explicit}")
        return explicit
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigurationError(f"no settings file at {path} (named by {CONFIG_ENV})")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_config(config: Path | None) -> Settings:
    """The settings from the file `find_config` picks and the environment, or ConfigurationError
    saying in one line what is wrong and where (never a value: it may be a secret)."""
    path = find_config(config)
    try:
        return load_settings(path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except ValidationError as exc:
        raise ConfigurationError(f"invalid settings: {describe(exc, path)}") from None


def describe(exc: ValidationError, path: Path | None) -> str:
    """Each error as `WHERE: KEY: what is wrong`, WHERE the environment variable that set the key
    or else the file; at most _SHOWN of them, then a count."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for error in errors[:_SHOWN]:
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc) or "settings"
        where = _env_name(loc) or (str(path) if path is not None else "defaults")
        if error["type"] == "extra_forbidden":
            text = "unknown setting" + _suggestion(loc)
        else:
            text = " ".join(error["msg"].split())
        parts.append(f"{where}: {key}: {text}")
    if len(errors) > _SHOWN:
        parts.append(f"and {len(errors) - _SHOWN} more")
    return "; ".join(parts)


def _env_name(loc: list[str]) -> str | None:
    """The NSW_ADAPTER_* variable that set this key (or a table holding it), if one did."""
    names = {name.upper() for name in os.environ if name.upper().startswith(_ENV_PREFIX)}
    for end in range(len(loc), 0, -1):
        name = _ENV_PREFIX + "__".join(loc[:end]).upper()
        if name in names:
            return name
    return None


def _suggestion(loc: list[str]) -> str:
    """ " (did you mean password?)" for a misspelt key, from the keys its table knows."""
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        candidates = [a for a in (annotation, *getattr(annotation, "__args__", ())) if _is_model(a)]
        if not candidates:
            return ""
        model = candidates[0]
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _is_model(candidate: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)
