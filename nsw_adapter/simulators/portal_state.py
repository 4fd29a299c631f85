"""What the portal simulator remembers: declarations by receipt, by ClientMessageId, by dossier; decisions.

Decisions are lazy: a declaration is decided the first time anyone looks at it (a status query
or the admin state) at or after `received + decision_delay`, so no timers run. The outcome was
settled at submission (business rules, watchlist, supplement list); only the numbers are
allocated on decision. A dossier (ClientReference) whose submission names a document on the
supplement list gets, once, instead of its first decision, a supplement request
(`SUPPLEMENT_REQUESTED`): its superseding submission is decided as usual; unanswered at
RespondBy, the portal rejects the receipt itself with `BG-SUPP-EXPIRED`. A Supersedes naming a
CANCELLED or SUPERSEDED receipt is refused (`FinalError`, the fault FINAL).
All methods run under the service's lock.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nsw_adapter.envelope import VIETNAM
from nsw_adapter.simulators.portal_rules import Reason

OFFICERS = ("Đại úy Lê Quang Huy", "Thiếu tá Nguyễn Minh Tuấn", "Trung úy Phạm Văn Bình")
FINAL = frozenset({"CLEARED", "REJECTED", "CANCELLED", "SUPERSEDED"})
#: States nothing can supersede (the fault FINAL).
IRREPLACEABLE = frozenset({"CANCELLED", "SUPERSEDED"})
SUPPLEMENT_EXPIRED = "BG-SUPP-EXPIRED"
LOCAL_MINUTE = "%d/%m/%Y %H:%M"


class NotFoundError(Exception):
    """A receipt number the portal never issued."""


class FinalError(Exception):
    """A Supersedes naming a receipt that can no longer be replaced (CANCELLED or SUPERSEDED)."""


@dataclass(frozen=True, slots=True)
class SupplementRequest:
    """An officer's request for more before deciding (one per receipt at most)."""

    number: str
    requested_at: float
    respond_by: float
    officer: str
    items: tuple[Reason, ...]  # Code, Text, Field (an XPath into the submission, or None)


def local_minute(epoch: float) -> str:
    """An epoch time as the portal's dd/MM/yyyy HH:mm in Vietnam local time."""
    return datetime.fromtimestamp(epoch, VIETNAM).strftime(LOCAL_MINUTE)


@dataclass(frozen=True, slots=True)
class NewSubmission:
    """The facts of a schema-valid Submission the state needs."""

    reference: str
    client_message_id: str
    supersedes: str | None
    procedure: str
    station: str
    expected_time: datetime | None  # naive Vietnam local time
    shore_pass_persons: tuple[tuple[str, int], ...]  # (Category, No) with ShorePassRequested true
    reasons: tuple[Reason, ...]
    persons: int
    supplement_items: tuple[Reason, ...] = ()  # what an officer asks for, if the dossier gets a request


@dataclass(frozen=True, slots=True)
class ShorePass:
    """A shore pass issued with a clearance."""

    category: str
    person_no: int
    number: str
    valid_from: str
    valid_to: str


@dataclass
class Declaration:
    """One receipt and its life: PENDING until decided, or CANCELLED / SUPERSEDED by the client."""

    receipt: str
    submission: NewSubmission
    received_at: float
    decide_at: float
    state: str = "PENDING"
    decided_at: float | None = None
    officer: str | None = None
    clearance: str | None = None
    passes: list[ShorePass] = field(default_factory=list)
    reasons: tuple[Reason, ...] = ()
    supplement: SupplementRequest | None = None
    superseded_by: str | None = None
    duplicates: int = 0
    cancel_requests: int = 0
    status_cache: tuple[str, bytes] | None = None  # (state, serialised Status) for GetProcessingStatus

    def as_dict(self) -> dict[str, Any]:
        return {
            "receipt": self.receipt,
            "client_message_id": self.submission.client_message_id,
            "supersedes": self.submission.supersedes,
            "superseded_by": self.superseded_by,
            "state": self.state,
            "received_at": local_minute(self.received_at),
            "decided_at": None if self.decided_at is None else local_minute(self.decided_at),
            "clearance_number": self.clearance,
            "shore_passes": [
                {"category": p.category, "person_no": p.person_no, "pass_number": p.number}
                for p in self.passes
            ],
            "reasons": [{"code": r.code, "field": r.field} for r in self.reasons],
            "supplement_request": None
            if self.supplement is None
            else {
                "number": self.supplement.number,
                "requested_at": local_minute(self.supplement.requested_at),
                "respond_by": local_minute(self.supplement.respond_by),
                "items": [{"code": i.code, "field": i.field} for i in self.supplement.items],
            },
            "duplicates": self.duplicates,
            "persons": self.submission.persons,
        }


@dataclass
class DossierRecord:
    """Per ClientReference: what arrived and what was issued."""

    submissions: int = 0
    duplicates: int = 0
    cancellations: int = 0
    receipts: list[str] = field(default_factory=list)


class PortalState:
    """The portal's memory and numbering."""

    def __init__(
        self,
        *,
        decision_delay: float,
        clock: Callable[[], float] = time.time,
        supplement_deadline: float = 3600.0,
    ) -> None:
        self.decision_delay = decision_delay
        self.supplement_deadline = supplement_deadline
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget everything (numbering starts over)."""
        self.declarations: dict[str, Declaration] = {}
        self.by_message_id: dict[str, str] = {}
        self.dossiers: dict[str, DossierRecord] = {}
        self._receipt_serial = itertools.count(4501)
        self._clearance_serial = itertools.count(1801)
        self._pass_serial = itertools.count(701)
        self._request_serial = itertools.count(123)
        self._requested: set[str] = set()  # ClientReferences that had their one supplement request
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "submissions",
                "duplicates",
                "cancellations",
                "cancel_duplicates",
                "status_requests",
                "statuses_returned",
                "cleared",
                "rejected",
                "supplement_requests",
                "supplement_expired",
                "fault_AUTH",
                "fault_SCHEMA",
                "fault_NOT_FOUND",
                "fault_FINAL",
                "fault_UNAVAILABLE",
            ),
            0,
        )

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    # --- operations ---------------------------------------------------------------------------

    def repeat(self, client_message_id: str) -> Declaration | None:
        """The declaration first submitted under this ClientMessageId (counting the repeat), or None."""
        known = self.by_message_id.get(client_message_id)
        if known is None:
            return None
        first = self.declarations[known]
        first.duplicates += 1
        self.dossiers.setdefault(first.submission.reference, DossierRecord()).duplicates += 1
        self.count("duplicates")
        return first

    def submit(self, new: NewSubmission) -> tuple[Declaration, bool]:
        """Record a submission: (its declaration, False), or (the first one, True) for a repeated id."""
        first = self.repeat(new.client_message_id)
        if first is not None:
            return first, True
        dossier = self.dossiers.setdefault(new.reference, DossierRecord())
        earlier = None
        now = self.clock()
        if new.supersedes is not None:
            earlier = self.declarations.get(new.supersedes)
            if earlier is None:
                raise NotFoundError(new.supersedes)
            # "Before RespondBy" is judged by this submission's arrival: an expiry due is seen first.
            self._resolve(earlier, now)
            if earlier.state in IRREPLACEABLE:
                raise FinalError(new.supersedes)
        year = datetime.fromtimestamp(now, VIETNAM).year
        receipt = f"{new.station}-{year}-{next(self._receipt_serial):06d}"
        declaration = Declaration(receipt, new, received_at=now, decide_at=now + self.decision_delay)
        self.declarations[receipt] = declaration
        self.by_message_id[new.client_message_id] = receipt
        dossier.submissions += 1
        dossier.receipts.append(receipt)
        self.count("submissions")
        if earlier is not None:
            earlier.state = "SUPERSEDED"
            earlier.decided_at = now
            earlier.superseded_by = receipt
        return declaration, False

    def cancel(self, receipt: str) -> tuple[Declaration, bool]:
        """Withdraw a declaration: (it, False), or (it, True) if it was already cancelled."""
        declaration = self.declarations.get(receipt)
        if declaration is None:
            raise NotFoundError(receipt)
        self.dossiers.setdefault(declaration.submission.reference, DossierRecord()).cancellations += 1
        declaration.cancel_requests += 1
        if declaration.state == "CANCELLED":
            self.count("cancel_duplicates")
            return declaration, True
        declaration.state = "CANCELLED"
        declaration.decided_at = self.clock()
        self.count("cancellations")
        return declaration, False

    def statuses(self, receipts: list[str]) -> list[Declaration]:
        """The declarations asked for, in request order, decided if their time has come."""
        unknown = [number for number in receipts if number not in self.declarations]
        if unknown:
            raise NotFoundError(unknown[0])
        now = self.clock()
        found = [self._resolve(self.declarations[number], now) for number in receipts]
        self.count("status_requests")
        self.count("statuses_returned", len(found))
        return found

    def _resolve(self, declaration: Declaration, now: float) -> Declaration:
        if declaration.state == "SUPPLEMENT_REQUESTED":
            return self._expire(declaration, now)
        if declaration.state != "PENDING" or now < declaration.decide_at:
            return declaration
        sub = declaration.submission
        officer = OFFICERS[int(declaration.receipt.rsplit("-", 1)[1]) % len(OFFICERS)]
        if sub.supplement_items and sub.reference not in self._requested:
            return self._request_supplement(declaration, officer, now)
        declaration.decided_at = declaration.decide_at
        declaration.officer = officer
        if sub.reasons:
            declaration.state = "REJECTED"
            declaration.reasons = sub.reasons
            self.count("rejected")
            return declaration
        declaration.state = "CLEARED"
        year = datetime.fromtimestamp(declaration.decide_at, VIETNAM).year
        declaration.clearance = f"{sub.station}/{sub.procedure}/{year}/{next(self._clearance_serial):06d}"
        start = sub.expected_time or datetime.fromtimestamp(declaration.decide_at, VIETNAM).replace(
            tzinfo=None
        )
        valid_from = start.strftime(LOCAL_MINUTE)
        valid_to = (start + timedelta(days=2)).replace(hour=22, minute=0).strftime(LOCAL_MINUTE)
        for category, number in sub.shore_pass_persons:
            pass_number = f"{sub.station}-DB-{year}-{next(self._pass_serial):05d}"
            declaration.passes.append(ShorePass(category, number, pass_number, valid_from, valid_to))
        self.count("cleared")
        return declaration

    def _request_supplement(self, declaration: Declaration, officer: str, now: float) -> Declaration:
        """Instead of a decision: the dossier's one supplement request, due supplement_deadline later."""
        sub = declaration.submission
        self._requested.add(sub.reference)
        year = datetime.fromtimestamp(declaration.decide_at, VIETNAM).year
        number = f"CKC{sub.station[3:6]}-{year}-YC{next(self._request_serial):06d}"
        at = declaration.decide_at
        declaration.state = "SUPPLEMENT_REQUESTED"
        declaration.supplement = SupplementRequest(
            number, at, at + self.supplement_deadline, officer, sub.supplement_items
        )
        self.count("supplement_requests")
        return self._expire(declaration, now)

    def _expire(self, declaration: Declaration, now: float) -> Declaration:
        """A request unanswered at RespondBy: the portal rejects the receipt itself (no officer, no field)."""
        request = declaration.supplement
        if request is None or now < request.respond_by:
            return declaration
        declaration.state = "REJECTED"
        declaration.decided_at = request.respond_by
        declaration.officer = None
        respond_by = local_minute(request.respond_by)
        declaration.reasons = (
            Reason(
                SUPPLEMENT_EXPIRED,
                f"Không nhận được hồ sơ bổ sung theo yêu cầu {request.number} trước hạn {respond_by}; "
                "hồ sơ bị từ chối.",
            ),
        )
        self.count("supplement_expired")
        self.count("rejected")
        return declaration

    # --- admin --------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The admin JSON (see nsw_adapter.simulators.portal for its shape)."""
        now = self.clock()
        for declaration in self.declarations.values():
            self._resolve(declaration, now)
        dossiers: dict[str, Any] = {}
        for reference, record in self.dossiers.items():
            items = [self.declarations[number] for number in record.receipts]
            latest = items[-1] if items else None
            dossiers[reference] = {
                "submissions": record.submissions,
                "duplicates": record.duplicates,
                "cancellations": record.cancellations,
                "receipts": [item.as_dict() for item in items],
                "state": None if latest is None else latest.state,
                "receipt": None if latest is None else latest.receipt,
            }
        pending = sum(1 for d in self.declarations.values() if d.state == "PENDING")
        return {
            "dossiers": dossiers,
            "counters": {**self.counters, "declarations": len(self.declarations), "pending": pending},
        }
