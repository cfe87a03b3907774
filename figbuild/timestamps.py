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


#: Days in each month of a leap year (February checked apart).
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_time(timestamp: str) -> bool:
    """Whether :func:`parse_time` reads ``timestamp``: decided without :mod:`datetime` for
    the form :func:`now` writes (a lock holds thousands; a status needs no datetime)."""
    if len(timestamp) == 20 and timestamp[19] == "Z" and timestamp[10] == "T":
        fields = (
            timestamp[0:4],
            timestamp[5:7],
            timestamp[8:10],
            timestamp[11:13],
            timestamp[14:16],
            timestamp[17:19],
        )
        punctuation = timestamp[4] + timestamp[7] + timestamp[13] + timestamp[16]
        if punctuation == "--::" and all(f.isascii() and f.isdigit() for f in fields):
            year, month, day, hour, minute, second = (int(f) for f in fields)
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            days = 0 if not 1 <= month <= 12 else 28 if month == 2 and not leap else _DAYS[month - 1]
            if year >= 1 and 1 <= day <= days and hour < 24 and minute < 60 and second < 60:
                return True
    try:
        parse_time(timestamp)
    except (ValueError, OverflowError):
        return False
    return True
