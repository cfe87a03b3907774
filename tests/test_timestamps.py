"""Timestamps as the lock records them: UTC, whole seconds, ISO 8601 with a Z."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild.timestamps import is_time, now, parse_time


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


def _reads(stamp: str) -> bool:
    try:
        parse_time(stamp)
    except (ValueError, OverflowError):
        return False
    return True


_DIGITS = st.text("0123456789", min_size=1, max_size=5)
_CANONICAL_SHAPED = st.builds(
    lambda y, mo, d, h, mi, s, sep: f"{y}{sep[0]}{mo}{sep[1]}{d}{sep[2]}{h}{sep[3]}{mi}{sep[4]}{s}{sep[5]}",
    st.one_of(
        st.integers(0, 10_000).map(lambda n: f"{n:04d}"),
        st.sampled_from(["0000", "0001", "1900", "2000", "2023", "2024", "2100", "2400", "9999"]),
        _DIGITS,
        st.just("２０２６"),
    ),
    st.one_of(st.integers(0, 13).map(lambda n: f"{n:02d}"), st.just("02"), _DIGITS),
    st.one_of(
        st.integers(0, 32).map(lambda n: f"{n:02d}"), st.sampled_from(["28", "29", "30", "31"]), _DIGITS
    ),
    st.one_of(st.integers(0, 25).map(lambda n: f"{n:02d}"), _DIGITS),
    st.one_of(st.integers(0, 61).map(lambda n: f"{n:02d}"), _DIGITS),
    st.one_of(st.integers(0, 61).map(lambda n: f"{n:02d}"), _DIGITS),
    st.one_of(st.just("--T::Z"), st.lists(st.sampled_from("-T:Z +.0"), min_size=6, max_size=6).map("".join)),
)


#: The form now() writes, its fields near and past their ends (centuries, February).
_CANONICAL = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format,
    st.one_of(st.integers(0, 9999), st.sampled_from([0, 1, 1900, 2000, 2100, 2400, 9999])),
    st.one_of(st.integers(0, 13), st.just(2)),
    st.one_of(st.integers(0, 32), st.integers(28, 31)),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
)


@settings(max_examples=3000, deadline=None)
@given(stamp=st.one_of(_CANONICAL, _CANONICAL_SHAPED, st.text(max_size=30)))
def test_is_time_says_what_parse_time_reads(stamp: str) -> None:
    """The lock's date check without datetime answers what datetime answers, on every
    string: the form now() writes (leap days, month ends, out-of-range fields, other
    digits) and anything else."""
    assert is_time(stamp) == _reads(stamp)


def test_is_time_knows_month_ends_and_leap_years() -> None:
    assert is_time("2024-02-29T00:00:00Z")
    assert not is_time("2023-02-29T00:00:00Z")
    assert not is_time("1900-02-29T00:00:00Z")
    assert is_time("2000-02-29T00:00:00Z")
    assert not is_time("2026-04-31T00:00:00Z")
    assert not is_time("0000-01-01T00:00:00Z")
