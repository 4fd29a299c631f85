"""The digest the audit trail keeps of every payload."""

from __future__ import annotations

import hashlib


def sha256_hex(payload: bytes) -> str:
    """SHA-256 of the payload, hex."""
    return hashlib.sha256(payload).hexdigest()
