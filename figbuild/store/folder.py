"""The team's store in a shared folder (``file:///path``): an NFS mount, a lab server's disk.

A create-if-absent is a hard link of a complete temp file to the key's name, which
fails if the name exists (the exclusive create of ``O_EXCL``, without a reader ever
seeing a half-written claim); where a file system has no hard links, ``O_EXCL``
itself. Files are made group-writable and folders setgid, so that the members of
the folder's group share it whatever their umask. Every path is checked to stay
inside the folder after symlinks are resolved: a member with write access cannot
make figbuild read or write elsewhere through a symlink planted in it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from urllib.parse import unquote

from figbuild.store.remote import Unreachable

FILE_MODE = 0o664
DIR_MODE = 0o2775


class FolderBucket:
    """``file:///path`` as a :class:`~figbuild.store.remote.Bucket`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.root = Path(unquote(url.removeprefix("file://")))
        if not self.root.is_absolute():
            raise Unreachable(f"{url}: a folder remote is file:///absolute/path")

    def create(self, key: str, data: bytes) -> bool:
        path = self._path(key, for_writing=True)
        temp = self._temp(path, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise Unreachable(self._why(exc)) from None
            return self._create_exclusive(path, data)
        finally:
            temp.unlink(missing_ok=True)
        return True

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key, for_writing=True)
        temp = self._temp(path, data)
        try:
            temp.replace(path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise Unreachable(self._why(exc)) from None

    def get(self, key: str, limit: int) -> bytes | None:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None  # a symlink where an object should be: refused
            raise Unreachable(self._why(exc)) from None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise Unreachable(f"{self.url}: {key} is larger than figbuild accepts")
        return data

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        keys: list[str] = []
        try:
            for folder, dirs, files in os.walk(base):
                dirs[:] = [name for name in dirs if not (Path(folder) / name).is_symlink()]
                relative = Path(folder).relative_to(self.root).as_posix()
                keys.extend(f"{relative}/{name}" for name in files if not name.startswith("."))
        except OSError as exc:
            raise Unreachable(self._why(exc)) from None
        if not self.root.is_dir():
            raise Unreachable(f"{self.url}: no such folder")
        return sorted(keys)

    # -- helpers ------------------------------------------------------------------

    def _path(self, key: str, *, for_writing: bool = False) -> Path:
        """The file of ``key``, inside the folder once symlinks are resolved."""
        path = self.root / key
        parent = path.parent
        if for_writing:
            self._mkdirs(parent)
        try:
            inside = parent.resolve().is_relative_to(self.root.resolve())
        except OSError as exc:
            raise Unreachable(self._why(exc)) from None
        if not inside:
            raise Unreachable(f"{self.url}: {key} leads outside the folder (a symlink); refused")
        return path

    def _mkdirs(self, folder: Path) -> None:
        if not self.root.is_dir():
            raise Unreachable(f"{self.url}: no such folder")
        missing = []
        while not folder.is_dir() and folder != self.root:
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                path.mkdir()
                path.chmod(DIR_MODE)
            except FileExistsError:
                pass
            except OSError as exc:
                raise Unreachable(self._why(exc)) from None

    def _temp(self, path: Path, data: bytes) -> Path:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise Unreachable(self._why(exc)) from None
        return temp

    def _create_exclusive(self, path: Path, data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        except FileExistsError:
            return False
        except OSError as exc:
            raise Unreachable(self._why(exc)) from None
        with os.fdopen(fd, "wb") as handle, contextlib.suppress(OSError):
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
        return True

    def _why(self, exc: OSError) -> str:
        return f"{self.url}: {exc.strerror or exc}"
