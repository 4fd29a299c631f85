"""Typed clients for the two services the adapter calls: the Border Guard portal and the NSW gateway."""

from nsw_adapter.clients.errors import RemotePermanentError, RemoteTransientError, classify_exception
from nsw_adapter.clients.nsw import NswAnswer, NswClient, Reject, ZeepNswClient, read_answer
from nsw_adapter.clients.portal import (
    PortalClient,
    PortalState,
    Reason,
    Receipt,
    ShorePass,
    Status,
    ZeepPortalClient,
    parse_portal_time,
)

__all__ = [
    "NswAnswer",
    "NswClient",
    "PortalClient",
    "PortalState",
    "Reason",
    "Receipt",
    "Reject",
    "RemotePermanentError",
    "RemoteTransientError",
    "ShorePass",
    "Status",
    "ZeepNswClient",
    "ZeepPortalClient",
    "classify_exception",
    "parse_portal_time",
    "read_answer",
]
