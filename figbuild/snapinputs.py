"""What a fast-path snapshot depends on besides what the run noted, found on disk when
the snapshot is written: figbuild's own source (an editable install that changed may
print otherwise) and the folders whose listings a glob depends on. Standard library
only, like :mod:`figbuild.fastpath`, which imports it only to write a snapshot."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

#: Bytes of one file's (mode, size, mtime_ns, ctime_ns, inode, device) in a row: six int64s.
ROW = 48


def own_source() -> list[str]:
    """figbuild's own files: a changed figbuild (an editable install) may print otherwise."""
    package = os.path.dirname(os.path.abspath(__file__))  # figbuild/, beside this file
    found: list[str] = []
    for directory, subdirectories, files in os.walk(package):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        found.extend(os.path.join(directory, name) for name in files if name.endswith((".py", ".json")))
    return found


def listed(root: str, pattern: str) -> list[str]:
    """Every directory whose listing the glob ``pattern`` may depend on: an entry added,
    removed or renamed in one changes its mtime and ctime."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if any(char in part for char in "*?["):
            break
        fixed.append(part)
    base = os.path.join(root, *fixed)
    magic = parts[len(fixed) :]
    depth = None if any("**" in part for part in magic) else len(magic) - 1
    hidden = any(part.startswith(".") for part in magic)  # glob skips hidden names otherwise
    # The literal directories on the way are stat'ed, not listed: a LaTeX build writing
    # into the paper root must not count as a change to ``sections/*.tex``.
    directories = [os.path.join(root, *fixed[:i]) for i in range(1, len(fixed))]
    for directory, subdirectories, _ in os.walk(base, followlinks=True):
        directories.append(directory)
        if not hidden:
            subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        level = directory[len(base) :].count(os.sep)
        if depth is not None and level >= depth:
            subdirectories[:] = []
        if len(directories) > 10_000:
            raise OSError("too many directories to watch")
    return directories


def packed(
    folders: Sequence[tuple[str, str, tuple[str, ...]]], signatures: Sequence[Sequence[Any]]
) -> tuple[tuple[tuple[str, str, str], ...], tuple[tuple[bytes, dict[int, Any]], ...]]:
    """A record (:func:`figbuild.fastpath.recorded`) as a snapshot keeps it: per folder
    its names joined by NUL and, for each name, its signature as a row of int64s when it
    is six integers int64 can hold (a plain file's stat), else apart, by position (an
    absent file, a symlink's, a folder's listing of temp files). At 10,000 figures that
    is tens of thousands of objects fewer to load, compare and free on every replay."""
    stored: list[tuple[str, str, str]] = []
    kept: list[tuple[bytes, dict[int, Any]]] = []
    for (folder, real, names), sigs in zip(folders, signatures, strict=True):
        stored.append((folder, real, "\0".join(names)))
        rows = bytearray(ROW * len(sigs))
        view = memoryview(rows).cast("q")
        odd: dict[int, Any] = {}
        for i, sig in enumerate(sigs):
            if _plain(sig):
                try:
                    view[6 * i : 6 * i + 6] = memoryview(_int64s(sig)).cast("q")
                    continue
                except OverflowError:
                    pass
            odd[i] = sig
        view.release()
        kept.append((bytes(rows), odd))
    return tuple(stored), tuple(kept)


def _plain(sig: object) -> bool:
    return isinstance(sig, tuple) and len(sig) == 6 and all(type(value) is int for value in sig)


def _int64s(values: Sequence[int]) -> bytes:
    return b"".join(value.to_bytes(8, sys.byteorder, signed=True) for value in values)
