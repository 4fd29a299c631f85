"""One root for the adapter's errors, the retry split, and the Problem every rule reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a dossier, pointing into the agent's NSW document.

    code: a rule code of the contract (E-SCHEMA, E-IMO, ...); text: readable, free of
    personal data; xpath: absolute, unprefixed, 1-based positions
    (/Envelope/Body/Content/CrewLists/CrewList[6]/PassportExpiryDate), or None when no
    single field is at fault; document_type: the NSW `type` ("50", "51", ...) of that document.
    key and params: the text's message key and parameters (nsw_adapter.texts), from which it is
    rendered in the agents' language; None for a text that has no key (a portal officer's words).
    Made by `texts.problem`, which sets `text` to the English rendering.
    """

    code: str
    text: str
    xpath: str | None = None
    document_type: str | None = None
    key: str | None = field(default=None, compare=False)
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, str | None]:
        """code, text (English), xpath and document_type, as stored and printed."""
        return {
            "code": self.code,
            "text": self.text,
            "xpath": self.xpath,
            "document_type": self.document_type,
        }


#: At most this many problems are listed in one answer (a 22 to the NSW): a list of every one of
#: 100,000 errors was a 26 MB answer. The last entry then says how many more were found.
MAX_LISTED = 200


def listed(problems: Sequence[Problem], limit: int = MAX_LISTED) -> list[Problem]:
    """The problems one answer lists: all of them, or the first `limit - 1` and a count of the rest."""
    if len(problems) <= limit:
        return list(problems)
    from nsw_adapter.texts import problem  # texts builds on Problem

    shown, rest = list(problems[: limit - 1]), problems[limit - 1 :]
    codes = ", ".join(sorted({p.code for p in rest}))
    more = {"count": len(rest), "codes": codes, "limit": limit}
    return [*shown, problem(rest[0].code, "more", None, rest[0].document_type, **more)]


class NswAdapterError(Exception):
    """Root of every error the adapter raises on purpose."""


class EnvelopeError(NswAdapterError):
    """An NSW envelope that cannot be accepted at all (E-ENVELOPE); carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.code}: {p.text}" for p in problems))


class TransientError(NswAdapterError):
    """A failure worth retrying later: connection, timeout, HTTP 502/503/504, UNAVAILABLE."""


class AuthenticationRefused(TransientError):
    """A service refused our credentials (the portal's AUTH fault, the NSW's authentication fault,
    HTTP 401/403). Not the item's fault: the service is paused for every item, never retried in
    process (each try is a failed login there), and nothing is dead-lettered for it; it is probed
    again now and then until the credentials work (loops/delivery.py)."""

    def __init__(
        self, message: str, *, service: str, code: str | None = None, status: int | None = None
    ) -> None:
        self.service = service
        self.code = code
        self.status = status
        super().__init__(message)


class PermanentError(NswAdapterError):
    """A failure retrying cannot fix: SCHEMA, NOT_FOUND, a contract violation."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class ConfigurationError(NswAdapterError):
    """Settings that cannot work (missing credentials, unreadable file, bad DSN)."""


class NameInUse(ConfigurationError):
    """Another live daemon holds this worker name (store/incarnation.py): each needs its own."""


class StoreNotReady(NswAdapterError):
    """A store that is not there, or whose schema is not the one this version of the adapter uses."""


class StoreUnreachable(TransientError):
    """The store's database server does not answer (refused, timed out, name not resolved)."""


class CannotListen(NswAdapterError):
    """A port the daemon must serve on is taken, or not ours to bind (`nsw-adapter run` exits 5)."""
