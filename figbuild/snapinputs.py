"""What a fast-path snapshot depends on besides what the run noted, found on disk when
the snapshot is written: figbuild's own source (an editable install that changed may
print otherwise) and the folders whose listings a glob depends on. Standard library
only, like :mod:`figbuild.fastpath`, which imports it only to write a snapshot."""

from __future__ import annotations

import os


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
