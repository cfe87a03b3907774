"""An exclusive lock on a file, held across processes: ``fcntl.flock``.

What :mod:`filelock` does on Linux and macOS (its ``UnixFileLock`` is ``flock`` on
an open file), without importing it: ``filelock`` costs 40-70 ms of imports and
``fcntl`` is built in. The same guarantees: the lock belongs to the open file, so
two runs, or two threads opening the file separately, exclude each other; the
kernel releases it when the process dies, however it dies (no stale lock files);
and a lock file is never deleted, so no one can lock a file that was replaced.
A blocking wait is interrupted at once by Ctrl-C.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str], on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); ``on_wait`` is called once
    if another holder makes this wait. Raises OSError when the file cannot be opened or
    locked (a file system without locks)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
