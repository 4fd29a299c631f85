"""`[console]` settings: off by default, loopback by default, users with argon2 password hashes.

Kept apart from the console's code so that `nsw_adapter.settings` imports no web framework.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: viewer: reads every page; operator: also retries and discards dead letters.
Role = Literal["viewer", "operator"]


class ConsoleUser(BaseModel):
    """One person allowed in: a name, an argon2 hash (`nsw-adapter console hash-password`), a role."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)  # what the person types at login
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$")  # never a plain password
    role: Role = "viewer"  # viewer reads every page; operator also retries and discards dead letters


class ConsoleSettings(BaseModel):
    """The operator console the daemon serves beside /healthz (nsw_adapter.console)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, as in every section

    enabled: bool = False  # the daemon serves the console only when this is true
    # Loopback: put a TLS-terminating proxy in front to reach it from elsewhere.
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=9109, ge=0, le=65535)  # 0: any free port (tests)
    users: list[ConsoleUser] = Field(default_factory=list)
    session_minutes: float = Field(default=30.0, gt=0)  # idle time after which a session has expired
    session_max_hours: float = Field(default=12.0, gt=0)  # a session's whole life, however active
    # Login throttling: after this many failures for one user name or one client address within
    # the window, further attempts from it are refused until the window has passed.
    login_failures: int = Field(default=5, ge=1)
    login_window_seconds: float = Field(default=300.0, gt=0)
    # Set when a TLS proxy serves the console: cookies then carry Secure.
    secure_cookies: bool = False
