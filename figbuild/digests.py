"""Digests of files that skip unchanged ones: a stat cache of (size, mtime_ns, ctime_ns, inode).

A file whose size, times and inode match the recorded ones is taken as unchanged,
as git does. The ctime is there because nothing can set it back: an edit that
keeps the size and restores the mtime still changes it. A file modified within
the last two seconds is never recorded: a later write in the same clock tick
(coarse time granularity) could otherwise go unnoticed. A file looked for and not
found (an include candidate) is recorded as absent, so that it appearing counts.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from figbuild import fastpath
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
        if entry and entry[:4] == [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]:
            return list(entry[4:])
        return None

    def store(self, key: str, st: os.stat_result, *values: Any) -> None:
        self.keys.add(key)
        if st.st_mtime_ns < time.time_ns() - RACY_NS:
            self.cache.put(
                self.section, key, [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, *values]
            )

    def lookup_files(self, key: str, root: Path) -> list[Any] | None:
        """The values stored for ``key`` if no file they were computed from changed.

        For a value read from several files (a LaTeX file and what it includes):
        every one of them is stat'ed, not just the first.
        """
        self.keys.add(key)
        entry = self.cache.get(self.section, key)
        if not entry or not isinstance(entry[0], list):
            return None
        try:
            for file, *recorded in entry[0]:
                fastpath.note_input(root / file)  # decides the value as if it had been read
                if _identity(root / file) != recorded:
                    return None
        except (TypeError, ValueError):  # an entry of another layout
            return None
        return list(entry[1:])

    def store_files(
        self, key: str, root: Path, files: Iterable[str], *values: Any, absent: Iterable[str] = ()
    ) -> None:
        """Remember ``values`` for ``key``, computed from ``files`` (relative to ``root``)
        and the absence of ``absent`` (files looked for and not found)."""
        self.keys.add(key)
        racy = time.time_ns() - RACY_NS
        stats = []
        for file in files:
            identity = _identity(root / file)
            if identity == _ABSENT or int(identity[1]) >= racy:
                return
            stats.append([file, *identity])
        for file in absent:
            if _identity(root / file) != _ABSENT:
                return
            stats.append([file, *_ABSENT])
        self.cache.put(self.section, key, [stats, *values])


#: The identity of a file that is not there.
_ABSENT: list[int | str] = [-1, 0, 0, 0, ""]


def _identity(path: Path) -> list[int | str]:
    """What a change to a file shows in: size, mtime, ctime, inode, and where it really
    is (a folder on its way swapped for a symlink moves it); ``_ABSENT`` if absent."""
    try:
        st = path.stat()
    except OSError:
        return list(_ABSENT)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, os.path.realpath(path)]


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
