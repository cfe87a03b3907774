"""Digests of files that skip unchanged ones: a stat cache of (size, mtime_ns, inode).

A file whose size, modification time and inode match the recorded ones is taken
as unchanged, as git and make do. A file modified within the last two seconds is
never recorded: a later write in the same clock tick (coarse mtime granularity)
could otherwise go unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from figbuild.cache import Cache

#: Files modified more recently than this (ns) are hashed every time.
RACY_NS = 2_000_000_000


class StatCache:
    """Values remembered per file (and key) while the file's stat is unchanged."""

    def __init__(self, cache: Cache, section: str) -> None:
        self.cache = cache
        self.section = section
        self.keys: set[str] = set()

    def lookup(self, key: str, st: os.stat_result) -> list[Any] | None:
        self.keys.add(key)
        entry = self.cache.get(self.section, key)
        if entry and entry[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]:
            return list(entry[3:])
        return None

    def store(self, key: str, st: os.stat_result, *values: Any) -> None:
        self.keys.add(key)
        if st.st_mtime_ns < time.time_ns() - RACY_NS:
            self.cache.put(self.section, key, [st.st_size, st.st_mtime_ns, st.st_ino, *values])


def sha256_file(path: str | os.PathLike[str], stats: StatCache | None = None) -> str | None:
    """The hex sha256 of a file, or None when it does not exist."""
    # os on strings, not pathlib: a status calls this once per figure.
    try:
        st = os.stat(path)  # noqa: PTH116
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = os.fspath(path)
    if stats is not None:
        hit = stats.lookup(key, st)
        if hit is not None:
            return str(hit[0])
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:  # noqa: PTH123
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if stats is not None:
        stats.store(key, st, digest.hexdigest())
    return digest.hexdigest()
