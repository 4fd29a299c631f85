"""The feed's event types (CloudEvents `type`) and the AMQP routing key each event goes out under."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """What happened to a dossier, as other agencies read it (schemas/events/<type>.json each)."""

    RECEIVED = "dossier.received"  # complete and ready: every document the declaration calls for
    SUBMITTED = "dossier.submitted"  # the portal's receipt
    CLEARED = "dossier.cleared"  # the Border Guard's clearance
    REJECTED = "dossier.rejected"  # refused, by the adapter's rules or by the portal
    CANCELLED = "dossier.cancelled"  # withdrawn by the agent
    SUPERSEDED = "dossier.superseded"  # a new version (an amendment) replaces this one
    DEAD_LETTERED = "dossier.dead-lettered"  # the adapter gave up delivering it: an operator acts
    STOWAWAYS_REPORTED = "dossier.stowaways-reported"  # the declaration reports stowaways on board
    ARMS_DECLARED = "dossier.arms-declared"  # the declaration reports arms on board

    @property
    def action(self) -> str:
        """The word after `dossier.`, e.g. `cleared`."""
        return self.value.removeprefix("dossier.")


#: Every type, in the order a dossier usually meets them.
ALL_TYPES: tuple[EventType, ...] = tuple(EventType)

#: The routing key's last word for an event whose gate is not known (a dossier rejected or
#: cancelled before its General Declaration arrived).
UNKNOWN_GATE = "unknown"


def routing_key(type_: EventType, gate: str | None) -> str:
    """`dossier.<action>.<gate>`, e.g. `dossier.cleared.CKCHPG`: a topic exchange's consumer binds
    `dossier.cleared.*`, `dossier.*.CKCHPG` or `#`."""
    return f"dossier.{type_.action}.{gate or UNKNOWN_GATE}"
