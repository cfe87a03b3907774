"""The per-paper cache: marshal on disk, values that marshal cannot hold kept as JSON would."""

from __future__ import annotations

import datetime
from pathlib import Path

from figbuild.cache import Cache


def test_the_cache_round_trips_and_keeps_order(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("manifest", "k", {"figures": {"b": 1, "a": [1, "x", None, True]}})
    cache.save()
    assert cache.path is not None
    assert cache.path.suffix == ".marshal"
    again = Cache(tmp_path).get("manifest", "k")
    assert again == {"figures": {"b": 1, "a": [1, "x", None, True]}}
    assert list(again["figures"]) == ["b", "a"]


def test_values_marshal_cannot_hold_are_stored_as_text(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("manifest", "k", {"when": datetime.date(2026, 1, 2)})
    cache.save()
    assert Cache(tmp_path).get("manifest", "k") == {"when": "2026-01-02"}


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.path is not None
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    cache.path.write_bytes(b"\x00not marshal")
    assert Cache(tmp_path).get("manifest", "k") is None
