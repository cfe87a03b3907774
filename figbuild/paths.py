"""Keeping paths inside the paper root, symlinks resolved."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class RootGuard:
    """Says whether paths stay inside ``root`` once symlinks are resolved.

    Each directory is resolved once per guard: a status checks thousands of paths
    in a few directories. os.path on strings, because pathlib's per-object
    overhead showed in profiles of exactly this loop.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._real_dirs: dict[str, str] = {}
        self._real_paths: dict[str, str] = {}  # the manifest's checks ask for each output twice

    def real(self, path: str | os.PathLike[str]) -> str:
        """``path`` with every symlink resolved (it need not exist)."""
        key = str(path)
        real = self._real_paths.get(key)
        if real is None:
            real = self._real_paths[key] = self._resolve(path)
        return real

    def _resolve(self, path: str | os.PathLike[str]) -> str:
        directory = os.path.dirname(path)  # noqa: PTH120
        real_dir = self._real_dirs.get(directory)
        if real_dir is None:
            real_dir = self._real_dirs[directory] = os.path.realpath(directory)
        real = os.path.normpath(os.path.join(real_dir, os.path.basename(path)))  # noqa: PTH118, PTH119
        return os.path.realpath(real) if os.path.islink(real) else real  # noqa: PTH114

    def inside(self, path: str | os.PathLike[str]) -> bool:
        real = self.real(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)


def joined(root: Path, relative: str) -> str:
    """``str(root / relative)``, without making a Path when ``relative`` is already in
    pathlib's normal form (a manifest checks one per figure)."""
    base = str(root)
    plain = relative not in ("", ".") and base != "/" and not relative.startswith("/")
    if plain and "//" not in relative and "./" not in relative and not relative.endswith(("/", "/.")):
        return base + "/" + relative if os.sep == "/" else str(root / relative)
    return str(root / relative)


def check_relative(guard: RootGuard, relative: str) -> str | None:
    """Why ``relative`` is not a path inside the guarded root (symlinks resolved), or None."""
    # On POSIX both tests below are this one; elsewhere pathlib knows drives.
    absolute = relative.startswith("/")
    if absolute or (
        os.name != "posix" and (PurePosixPath(relative).is_absolute() or Path(relative).is_absolute())
    ):
        return f"{relative!r} is absolute; paths must be relative to the paper root"
    if not guard.inside(joined(guard.root, relative)):
        return f"{relative!r} leaves the paper root {guard.real_root}"
    return None
