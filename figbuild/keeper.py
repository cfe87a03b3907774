"""The run's copy of the lock file, written through to disk as a sync goes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from figbuild import atomic, lockfile
from figbuild.errors import FileError
from figbuild.lockfile import Lock


class LockKeeper:
    """The run's copy of the lock, written through to ``figures.lock``.

    A durable change (a submission about to be paid for, or just paid for) is on
    disk before ``update`` returns; concurrent ones are written together. Other
    changes (a figure collected, a task retired) are written at most every
    ``FLUSH_INTERVAL`` seconds, and never more often than lets writing take a fifth
    of the run, and at the end of the run: rewriting a 2,000-figure lock for every
    figure would make a large sync quadratic, and so would rewriting a 10,000-figure
    one (seconds of JSON) back to back. Losing them to a crash costs nothing: a
    pending task is collected again, free, and an image already written is adopted.
    """

    FLUSH_INTERVAL = 0.5
    #: Non-durable writes are at least this many times the last write's duration apart.
    SPACING = 4.0

    def __init__(self, path: Path, lock: Lock) -> None:
        self.path = path
        self.lock = lock
        self._mutex = threading.Lock()  # guards lock and the version counters
        self._writing = threading.Lock()  # one write at a time
        self._version = 0
        self._written = 0
        self._written_at = 0.0
        self._write_cost = 0.0
        self._closed = False

    def close(self) -> None:
        """Take no more changes: after Ctrl-C, a worker still blocked in a request may
        wake after the run ended, and must not write a lock another run now owns."""
        with self._mutex:
            self._closed = True

    def update(self, change: Callable[[Lock], Lock], *, durable: bool = False) -> None:
        with self._mutex:
            if self._closed:
                return
            self.lock = change(self.lock)
            self._version += 1
            mine = self._version
        interval = max(self.FLUSH_INTERVAL, self.SPACING * self._write_cost)
        if durable or time.monotonic() - self._written_at >= interval:
            self._write(mine)

    def flush(self) -> None:
        """Write whatever is not on disk yet."""
        with self._mutex:
            latest = self._version
        self._write(latest)

    def _write(self, version_needed: int) -> None:
        with self._writing:
            if self._written >= version_needed:
                return  # another thread's write included this change
            with self._mutex:
                snapshot, version = self.lock, self._version
            started = time.monotonic()
            try:
                lockfile.write(self.path, snapshot)
            except OSError as exc:
                raise FileError(atomic.explain(exc, self.path)) from None
            self._written, self._written_at = version, time.monotonic()
            self._write_cost = self._written_at - started
