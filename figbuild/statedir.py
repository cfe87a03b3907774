"""figbuild's private directory in a paper (``.figbuild/``, git-ignored) and the run lock in it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from figbuild import atomic

STATE_DIR = ".figbuild"


def state_dir(root: Path) -> Path:
    """figbuild's private directory in a paper, made with a .gitignore that ignores it."""
    directory = root / STATE_DIR
    ignore = directory / ".gitignore"
    if not ignore.is_file():
        atomic.write_bytes(ignore, b"# created by figbuild\n*\n")
    return directory


@contextlib.contextmanager
def run_lock(root: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the paper's run lock: one sync at a time per paper, across processes."""
    import filelock

    lock = filelock.FileLock(str(state_dir(root) / "run.lock"))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
