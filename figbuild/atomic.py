"""The one way figbuild writes files: temp file beside the target, fsync, rename.

A reader (or a crash) never sees a half-written figure or lock file.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".figbuild-tmp"

#: How :func:`atomic_writer` names a temp file: ``.<target>.<8 random characters>.figbuild-tmp``.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX), re.DOTALL)

#: Seconds after which a temp file no sync could be writing is taken for a leftover.
STALE_AFTER = 300.0


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` only if the block completes.

    ``handle.name`` is the temp file's path, so the block can verify what it wrote.
    The temp file lives in ``path``'s directory (so the rename is atomic) and is
    removed if the block raises, including on KeyboardInterrupt. The file gets the
    usual umask mode, or no more than ``mode``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _mkstemp(path)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # Opened by name so that ``handle.name`` is the temp path, for checks before the rename.
        with tmp.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a figure or lock should get the usual umask mode.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask & (0o666 if mode is None else mode))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


#: The characters of a temp file's 8 random ones, as :func:`tempfile.mkstemp` draws them.
_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
#: Open flags of :func:`tempfile.mkstemp`: created here, exclusively, never through a symlink.
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _mkstemp(path: Path) -> tuple[int, str]:
    """``tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)``,
    without importing :mod:`tempfile` (with :mod:`shutil` and :mod:`random`: more than a
    cache or snapshot write itself costs): a new file, mode 0600, opened exclusively
    under a name of 8 random characters; another name when one exists."""
    folder = os.path.abspath(path.parent)  # noqa: PTH100 - a string, as mkstemp returns
    for _ in range(10_000):  # tempfile.TMP_MAX
        name = "".join(_NAME_CHARACTERS[byte % len(_NAME_CHARACTERS)] for byte in os.urandom(8))
        candidate = os.path.join(folder, f".{path.name}.{name}{TEMP_SUFFIX}")  # noqa: PTH118
        try:
            return os.open(candidate, _CREATE, 0o600), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temp file name beside {path}")


def sweep(targets: Iterable[Path], *, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove the temp files that killed runs left beside ``targets``; return what went.

    Call it only while holding the paper's run lock, with the paths that only a sync
    writes (the outputs and the lock): no live run can then be writing one of their
    temp files. A temp file of any other name in those folders is removed only once
    it is ``older_than`` seconds old; a file not named like a temp file never is.
    """
    owned = set(targets)
    removed: list[Path] = []
    for directory in {target.parent for target in owned}:
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                match = _TEMP_NAME.fullmatch(entry.name)
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                ours = directory / match["target"] in owned
                if ours or time.time() - entry.stat(follow_symlinks=False).st_mtime > older_than:
                    with contextlib.suppress(OSError):
                        Path(entry.path).unlink()
                        removed.append(Path(entry.path))
    return removed


def temp_files(directory: Path) -> list[Path]:
    """The files in ``directory`` named like :func:`atomic_writer`'s temp files."""
    try:
        with os.scandir(directory) as entries:
            return [Path(entry.path) for entry in entries if _TEMP_NAME.fullmatch(entry.name)]
    except OSError:
        return []


def unwritable(path: Path) -> str | None:
    """Why :func:`atomic_writer` could not write ``path``, or None when it could.

    Tried for real, with a temp file made and removed beside ``path``: a folder
    where the file goes, a file where a folder goes, and read-only folders are
    found before a figure is paid for, whoever runs figbuild.
    """
    try:
        if path.is_dir():
            return f"{path} is a folder; figbuild writes a file there"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _mkstemp(path)
    except OSError as exc:
        return explain(exc, path)
    os.close(fd)
    Path(tmp_name).unlink()
    return None


def explain(exc: OSError, path: Path) -> str:
    """What an OSError from writing ``path`` means, in one line that names the path."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        for parent in path.parents:
            with contextlib.suppress(OSError):
                if parent.exists() and not parent.is_dir():
                    return f"{parent} is a file, not a folder; figbuild writes {path} inside it"
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder; figbuild writes a file there"
    return f"cannot write {path}: {exc.strerror or exc}"


def write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Atomically replace ``path`` with ``data`` (its mode: no more than ``mode``)."""
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets us open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
