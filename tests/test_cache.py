"""The per-paper cache in the user's cache directory: disposable, versioned, pruned; marshal
on disk, and values marshal cannot hold kept as JSON would keep them."""

from __future__ import annotations

import datetime
import marshal
import os
import time
from pathlib import Path

import pytest

from figbuild import __version__
from figbuild.cache import EVICT_EVERY, STAMP, Cache, cache_home, evict, evict_now_and_then, key_of


def test_cache_home_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_home() == tmp_path / "xdg" / "figbuild"


def test_key_of_separates_its_parts() -> None:
    assert key_of("ab", "c") != key_of("a", "bc")
    assert key_of("a") == key_of("a")
    assert len(key_of("a")) == 64


def test_a_saved_cache_is_read_back_by_the_same_version(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.path is not None
    assert cache.path.parent == cache_home()
    cache.put("prompts", "k", ["text", ["method"]])
    cache.save()
    assert Cache(tmp_path).get("prompts", "k") == ["text", ["method"]]
    assert Cache(tmp_path / "other").get("prompts", "k") is None, "one cache per paper"


def test_another_versions_or_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.path is not None
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    cache.path.write_bytes(marshal.dumps({"figbuild": "0.0.0-other", "prompts": {"k": 1}}))
    assert Cache(tmp_path).get("prompts", "k") is None
    cache.path.write_bytes(b"\x00not marshal")
    assert Cache(tmp_path).get("prompts", "k") is None
    cache.path.write_bytes(marshal.dumps({"figbuild": __version__, "prompts": {"k": 1}}))
    assert Cache(tmp_path).get("prompts", "k") == 1


def test_save_prunes_to_the_keys_in_use_and_writes_only_changes(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.path is not None
    cache.put("content", "old", 1)
    cache.put("content", "new", 2)
    cache.put("prompts", "p", 3)
    cache.save(keep={"content": {"new"}})
    again = Cache(tmp_path)
    assert (again.get("content", "old"), again.get("content", "new"), again.get("prompts", "p")) == (
        None,
        2,
        3,
    )
    cache.path.unlink()
    again.put("content", "new", 2)  # unchanged: nothing to write
    again.save()
    assert not cache.path.exists()


def test_replace_sets_a_whole_section(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("manifest", "a", 1)
    cache.replace("manifest", {"b": 2})
    cache.save()
    assert (Cache(tmp_path).get("manifest", "a"), Cache(tmp_path).get("manifest", "b")) == (None, 2)


def test_an_in_memory_cache_never_writes(tmp_path: Path) -> None:
    cache = Cache(None)
    cache.put("prompts", "k", 1)
    cache.save()
    assert cache.get("prompts", "k") == 1
    assert not cache_home().exists()


def test_an_unwritable_cache_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    cache = Cache(tmp_path)
    cache.put("prompts", "k", 1)
    cache.save()  # cannot write under a file: only speed is lost


def test_the_cache_keeps_order_and_types(tmp_path: Path) -> None:
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


DAY = 86_400


def _aged(path: Path, days: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - days * DAY
    os.utime(path, (when, when))
    return path


def test_files_unused_for_30_days_are_evicted(tmp_path: Path) -> None:
    home = tmp_path / "figbuild"
    old_paper = _aged(home / "a.py311.marshal", 31)
    old_snapshot = _aged(home / "fastpath" / "0123abcd", 45)
    recent = _aged(home / "b.py311.marshal", 29)
    assert sorted(evict(home)) == sorted([old_paper, old_snapshot])
    assert recent.exists()


def test_past_the_size_cap_the_least_recently_used_go_first(tmp_path: Path) -> None:
    home = tmp_path / "figbuild"
    oldest = _aged(home / "a", 3, size=1000)
    middle = _aged(home / "b", 2, size=1000)
    newest = _aged(home / "c", 1, size=1000)
    assert evict(home, max_bytes=2500) == [oldest]
    assert middle.exists()
    assert newest.exists()
    assert evict(home, max_bytes=1000) == [middle]


def test_eviction_leaves_links_and_what_they_point_to(tmp_path: Path) -> None:
    home = tmp_path / "figbuild"
    outside = _aged(tmp_path / "precious", 400)
    home.mkdir()
    (home / "link").symlink_to(outside)
    assert evict(home, max_bytes=0) == []
    assert outside.exists()


def test_eviction_runs_once_a_day_at_most(tmp_path: Path) -> None:
    home = tmp_path / "figbuild"
    first = _aged(home / "a", 40)
    assert evict_now_and_then(home) == [first]
    second = _aged(home / "b", 40)
    assert evict_now_and_then(home) == [], "it ran less than a day ago"
    assert evict_now_and_then(home, now=time.time() + EVICT_EVERY + 1) == [second]
    assert (home / STAMP).exists()


def test_a_save_evicts_other_papers_stale_caches(tmp_path: Path) -> None:
    forgotten = _aged(cache_home() / "forgotten.py311.marshal", 60)
    cache = Cache(tmp_path / "paper")
    cache.put("prompts", "k", "v")
    cache.save()
    assert not forgotten.exists()
    assert cache.path is not None
    assert cache.path.exists()


def test_reading_a_cache_marks_it_used(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    cache = Cache(root)
    cache.put("prompts", "k", "v")
    cache.save()
    assert cache.path is not None
    month_ago = time.time() - 29 * DAY
    os.utime(cache.path, (month_ago, month_ago))
    assert Cache(root).get("prompts", "k") == "v"
    assert time.time() - cache.path.stat().st_mtime < DAY, "its clock restarted: it is in use"
    assert evict(cache_home(), now=time.time() + 2 * DAY) == []


@pytest.mark.parametrize(("value", "off"), [("1", True), ("yes", True), ("", False), ("0", False)])
def test_figbuild_no_cache_neither_reads_nor_writes_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, off: bool
) -> None:
    """What the oracle compares against: with FIGBUILD_NO_CACHE, nothing remembered."""
    warm = Cache(tmp_path)
    warm.put("prompts", "k", ["text", []])
    warm.save()
    monkeypatch.setenv("FIGBUILD_NO_CACHE", value)
    cache = Cache(tmp_path)
    assert (cache.get("prompts", "k") is None) is off
    assert (cache.path is None) is off
    cache.put("prompts", "other", ["more", []])
    cache.save()
    monkeypatch.delenv("FIGBUILD_NO_CACHE")
    assert (Cache(tmp_path).get("prompts", "other") is None) is off  # nothing written
