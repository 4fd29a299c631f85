"""Every key the package passes to a log call is allow-listed or deliberately marked personal.

The redacting processor hides any value whose key is not in SAFE_KEYS, which is safe but
silent: a key an operator needs (the daemon's `roles`) is hidden, and nobody notices. This test
reads the source instead (the AST of every module), so each new key is a decision: allow-listed
in SAFE_KEYS, or marked personal in PERSONAL_KEYS and redacted on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nsw_adapter
from nsw_adapter.logging import PERSONAL_KEYS, REDACTED, SAFE_KEYS, redact

PACKAGE = Path(nsw_adapter.__file__).resolve().parent
# structlog's and the standard library's log methods, and the calls that bind context.
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "msg"}
)
BINDERS = frozenset({"bind", "new", "bind_contextvars"})
# Keywords of the logging API itself, not event keys (logging.safe_exception consumes exc_info).
API_KEYWORDS = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})
# `**name` splats, whose keys the AST cannot see: by (module, name), the keys each carries (read
# at its callers), checked like the rest. A new splat fails until it is declared here.
SPLATS: Mapping[tuple[str, str], frozenset[str]] = {
    ("intake.py", "context"): frozenset({"size"}),  # Intake._authenticate(..., size=size)
    ("loops/submit.py", "extra"): frozenset({"exc_info"}),  # SubmitLoop._report(..., exc_info=exc)
    # Delivery.give_up(..., error=..., error_code=..., attempts=..., exc_info=...)
    ("loops/delivery.py", "fields"): frozenset({"error", "error_code", "attempts", "exc_info"}),
}


@dataclass(frozen=True, slots=True)
class LogKey:
    """One keyword passed to a log call: `**name` for a splat of a name, `**?` for any other splat."""

    path: str
    line: int
    key: str


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def log_keys(source: str, path: str) -> list[LogKey]:
    """The keywords of every log and bind call in one module's source."""
    found: list[LogKey] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if not isinstance(node, ast.Call) or _called(node.func) not in LOG_METHODS | BINDERS:
            continue
        for keyword in node.keywords:
            if keyword.arg is not None:
                if keyword.arg not in API_KEYWORDS:
                    found.append(LogKey(path, node.lineno, keyword.arg))
            elif isinstance(keyword.value, ast.Dict):  # **{"key": value}: its literal keys
                for key in keyword.value.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        found.append(LogKey(path, node.lineno, key.value))
                    else:
                        found.append(LogKey(path, node.lineno, "**?"))
            elif isinstance(keyword.value, ast.Name):
                found.append(LogKey(path, node.lineno, f"**{keyword.value.id}"))
            else:
                found.append(LogKey(path, node.lineno, "**?"))
    return found


def undecided(keys: Iterable[LogKey], splats: Mapping[tuple[str, str], frozenset[str]] = SPLATS) -> list[str]:
    """`file:line key` for each key neither safe nor personal (a splat's declared keys included)."""
    decided = SAFE_KEYS | PERSONAL_KEYS | API_KEYWORDS
    problems: list[str] = []
    for item in keys:
        if item.key.startswith("**"):
            carried = splats.get((item.path, item.key[2:]))
            if carried is None:
                problems.append(f"{item.path}:{item.line} {item.key} (declare the keys it carries in SPLATS)")
                continue
            problems.extend(f"{item.path}:{item.line} {key} (via {item.key})" for key in carried - decided)
        elif item.key not in decided:
            problems.append(f"{item.path}:{item.line} {item.key}")
    return problems


def package_keys() -> list[LogKey]:
    """Every log key in nsw_adapter/, with paths relative to the package."""
    keys: list[LogKey] = []
    for module in sorted(PACKAGE.rglob("*.py")):
        keys.extend(log_keys(module.read_text("utf-8"), module.relative_to(PACKAGE).as_posix()))
    return keys


def test_every_log_key_in_the_package_is_allow_listed_or_marked_personal() -> None:
    """No module passes a log key that is in neither SAFE_KEYS nor PERSONAL_KEYS."""
    keys = package_keys()
    assert len(keys) > 20, "the collector found almost no log keys: it no longer sees the log calls"
    assert undecided(keys) == [], "decide each: SAFE_KEYS (an operator may see it) or PERSONAL_KEYS"


def test_the_collector_sees_every_form_of_log_call() -> None:
    """Keys of log methods, bind, bind_contextvars, dict splats and name splats are all collected."""
    source = (
        "import structlog\n"
        "from structlog.contextvars import bind_contextvars\n"
        "log.info('a', alpha=1)\n"
        "bound = log.bind(beta=2)\n"
        "structlog.contextvars.bind_contextvars(gamma=3)\n"
        "bind_contextvars(delta=4)\n"
        "self._log.exception('e', exc_info=True, epsilon=5)\n"
        "log.warning('w', **{'zeta': 6})\n"
        "log.error('x', **context)\n"
        "log.critical('y', **make())\n"
        "print('not a log call', omega=7)\n"
    )
    keys = log_keys(source, "snippet.py")
    assert {k.key for k in keys} == {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "**context", "**?"}
    assert LogKey("snippet.py", 4, "beta") in keys


def test_a_new_unknown_key_is_reported_with_its_file_and_line() -> None:
    """A log call passing a key in neither set fails, naming the file, the line and the key."""
    source = "log.info('intake.stored', message_id=m)\nlog.info('crew.read', passenger_name=n)\n"
    assert undecided(log_keys(source, "intake.py")) == ["intake.py:2 passenger_name"]


def test_an_undeclared_splat_and_an_unknown_key_behind_a_declared_one_are_reported() -> None:
    """A `**name` not declared in SPLATS fails, and so does an undecided key a declared splat carries."""
    source = "log.info('a', **ctx)\nlog.info('b', **known)\n"
    splats = {("m.py", "known"): frozenset({"count", "crew_name"})}
    assert undecided(log_keys(source, "m.py"), splats) == [
        "m.py:1 **ctx (declare the keys it carries in SPLATS)",
        "m.py:2 crew_name (via **known)",
    ]


def test_every_declared_splat_still_exists() -> None:
    """Each SPLATS entry names a splat the package still has (no stale declarations)."""
    present = {(k.path, k.key[2:]) for k in package_keys() if k.key.startswith("**")}
    assert set(SPLATS) <= present


def test_safe_and_personal_keys_are_disjoint_and_personal_ones_are_redacted() -> None:
    """No key is both safe and personal; the redactor hides a personal key and keeps `roles`."""
    assert SAFE_KEYS.isdisjoint(PERSONAL_KEYS)
    event = redact(
        None, "info", {"event": "daemon.starting", "roles": ["intake"], "reason": "Nguyễn Văn Đức"}
    )
    assert event == {"event": "daemon.starting", "roles": ["intake"], "reason": REDACTED}
