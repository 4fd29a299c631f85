"""One root for the adapter's errors, the retry split, and the Problem every rule reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a dossier, pointing into the agent's NSW document.

    code: a rule code of the contract (E-SCHEMA, E-IMO, ...); text: readable, free of
    personal data; xpath: absolute, unprefixed, 1-based positions
    (/Envelope/Body/Content/CrewLists/CrewList[6]/PassportExpiryDate), or None when no
    single field is at fault; document_type: the NSW `type` ("50", "51", ...) of that document.
    """

    code: str
    text: str
    xpath: str | None = None
    document_type: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


class NswAdapterError(Exception):
    """Root of every error the adapter raises on purpose."""


class EnvelopeError(NswAdapterError):
    """An NSW envelope that cannot be accepted at all (E-ENVELOPE); carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.code}: {p.text}" for p in problems))


class TransientError(NswAdapterError):
    """A failure worth retrying later: connection, timeout, HTTP 502/503/504, UNAVAILABLE."""


class PermanentError(NswAdapterError):
    """A failure retrying cannot fix: AUTH, SCHEMA, NOT_FOUND, a contract violation."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class ConfigurationError(NswAdapterError):
    """Settings that cannot work (missing credentials, unreadable file, bad DSN)."""
