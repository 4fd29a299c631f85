"""What the reference subscriber received: each event once (deduplicated by id), in arrival order.

A redelivery (same id, same bytes) counts as a duplicate; the same id with other bytes counts as
a conflict (an event must never change between attempts). Thread-safe: the webhook handler and
the AMQP consumer thread record into one state.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from typing import Any, Literal

from nsw_adapter.events.event import decode

Via = Literal["webhook", "amqp"]


def read_event(body: bytes) -> dict[str, Any]:
    """A received body as JSON, once the CloudEvents SDK has read it as an event (ValueError if not)."""
    decode(body)
    event = json.loads(body)
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    return event


class SubscriberState:
    """The events received, unique by id, and counts of everything else that arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._events: list[dict[str, Any]] = []
            self._digests: dict[str, str] = {}
            self._counts: Counter[str] = Counter()

    def record(self, body: bytes, event: dict[str, Any], via: Via) -> bool:
        """Keep `event` (its JSON `body` as received) unless its id was seen; True when it was new."""
        digest = hashlib.sha256(body).hexdigest()
        event_id = str(event["id"])
        with self._lock:
            self._counts["deliveries"] += 1
            self._counts[via] += 1
            seen = self._digests.get(event_id)
            if seen is not None:
                self._counts["duplicates"] += 1
                if seen != digest:
                    self._counts["conflicts"] += 1
                return False
            self._digests[event_id] = digest
            self._events.append({"via": via, "event": event})
            return True

    def refused(self, why: Literal["bad_signatures", "malformed"]) -> None:
        """A delivery refused: its signature did not verify, or it was not a CloudEvent."""
        with self._lock:
            self._counts[why] += 1

    def snapshot(self) -> dict[str, Any]:
        """The admin JSON: `events` (each {"via", "event"}, first arrivals in order) and `counts`."""
        with self._lock:
            counts = {key: self._counts[key] for key in _COUNTS}
            return {"events": json.loads(json.dumps(self._events)), "counts": counts}


_COUNTS = ("deliveries", "webhook", "amqp", "duplicates", "conflicts", "bad_signatures", "malformed")
