"""Timestamps as figbuild records them: UTC, whole seconds, ISO 8601 with a ``Z``."""

from __future__ import annotations


def now() -> str:
    """The current UTC time as the lock records it."""
    from datetime import datetime, timezone  # here: read-only commands never need it

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(timestamp: str) -> float:
    """Seconds since the epoch of a timestamp as :func:`now` (or the API) writes it."""
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
