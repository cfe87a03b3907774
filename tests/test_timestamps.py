"""Timestamps as the lock records them: UTC, whole seconds, ISO 8601 with a Z."""

from __future__ import annotations

import re
import time

from figbuild.timestamps import now, parse_time


def test_now_is_utc_whole_seconds_with_a_z() -> None:
    stamp = now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp
    assert abs(parse_time(stamp) - time.time()) < 5


def test_parse_time_reads_what_now_and_the_api_write() -> None:
    assert parse_time("1970-01-01T00:00:00Z") == 0.0
    assert parse_time("2026-04-15T10:00:45Z") - parse_time("2026-04-15T10:00:00Z") == 45.0
    assert parse_time("2026-04-15T12:00:00+02:00") == parse_time("2026-04-15T10:00:00Z")


def test_round_trip() -> None:
    stamp = now()
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parse_time(stamp))) == stamp
