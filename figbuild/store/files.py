"""Reading the store's own files: index files only when they can be nobody else's
(no symlink, no second name), objects hashed as they are read, lines found by offset."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path


def lines_of(data: bytes) -> Iterator[tuple[int, int]]:
    """The (start, end) offsets of the non-empty lines of ``data``."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if end > start:
            yield start, end
        start = end + 1


def read_own(path: Path) -> tuple[bytes, int]:
    """The bytes and permission bits of an index file, if it can only be the store's:
    a regular file, not a symlink, with no other name (a hard link to a file
    elsewhere is not the store's to merge or set aside). OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if st.st_nlink == 0:  # removed since it was opened: a compaction replaced it
            raise FileNotFoundError(errno.ENOENT, "removed while being read", str(path))
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise OSError(f"{path.name} is not a regular file of the store's own")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(), stat.S_IMODE(st.st_mode) & 0o666
    finally:
        os.close(fd)


def hash_file(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
