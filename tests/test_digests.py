"""File digests that skip unchanged files through a stat cache."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from figbuild.cache import Cache
from figbuild.digests import RACY_NS, StatCache, sha256_file


def age(path: Path, seconds: float = 10.0) -> None:
    """Date ``path`` back, out of the racy window."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_sha256_file_or_none(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"pixels")
    assert sha256_file(path) == hashlib.sha256(b"pixels").hexdigest()
    assert sha256_file(tmp_path / "missing.png") is None
    assert sha256_file(path / "under-a-file") is None
    assert sha256_file(tmp_path) is None  # a directory is no output file


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"pixels")
    age(path)
    stats = StatCache(Cache(None), "outputs")
    real = sha256_file(path, stats)
    # Poison the cached digest: if the file is taken as unchanged, this is what comes back.
    st = path.stat()
    stats.cache.put("outputs", str(path), [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, "cached"])
    assert sha256_file(path, stats) == "cached"
    assert stats.keys == {str(path)}
    path.write_bytes(b"other pixels")  # size and mtime change: read again
    age(path, 5.0)
    assert sha256_file(path, stats) == hashlib.sha256(b"other pixels").hexdigest() != real


def test_a_file_written_just_now_is_never_recorded(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"pixels")
    assert time.time_ns() - path.stat().st_mtime_ns < RACY_NS
    stats = StatCache(Cache(None), "outputs")
    sha256_file(path, stats)
    assert stats.cache.get("outputs", str(path)) is None
    assert stats.keys == {str(path)}, "still counted as in use"


def test_an_edit_that_keeps_the_size_and_puts_the_mtime_back_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"pixels")
    age(path)
    stats = StatCache(Cache(None), "outputs")
    before = sha256_file(path, stats)
    st = path.stat()
    path.write_bytes(b"PIXELS")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the mtime put back: only ctime tells
    assert sha256_file(path, stats) == hashlib.sha256(b"PIXELS").hexdigest() != before
