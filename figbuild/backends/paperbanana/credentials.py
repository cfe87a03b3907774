"""Where the API key is kept for this user: `figbuild login` / `logout` and the lookup.

Two stores, as SPEC's Configuration says. The system keyring, when the optional
``keyring`` package is installed and has a usable backend; else a file,
``$XDG_CONFIG_HOME/figbuild/credentials`` (``~/.config``), created 0600 in a 0700
folder and refused when anyone but its owner may read it. Either way the config
folder holds a file whose presence says a key is stored, so a cheap ``stat`` tells
(the no-op fast path relies on this): ``credentials`` (the key itself) or ``keyring``
(a marker naming the keyring backend, never the key). ``PAPERBANANA_API_KEY`` wins
over both, and nothing is looked up when it is set.

Standard library only; ``keyring`` is imported only when the marker says the key is
there, or by `login` and `logout`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figbuild import fastpath
from figbuild.errors import UsageError

KEY_ENV = "PAPERBANANA_API_KEY"
CONFIG_ENV = "XDG_CONFIG_HOME"
#: The file store: the key, one line, mode 0600.
FILE_NAME = "credentials"
#: The keyring store's marker: the backend's name, never the key.
MARKER_NAME = "keyring"
#: Where in the keyring: service and user name.
SERVICE = "figbuild"
USERNAME = "paperbanana-api-key"
#: What a stored key must not allow: any access by group or others.
_LOOSE = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True)
class Found:
    """A key and where it came from (``describe`` is safe to print: never the key)."""

    key: str
    source: str  # "environment", "file" or "keyring"
    where: str


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the key is kept: :func:`figbuild.fastpath.config_home`, so that the fast
    path's "is a key configured" looks where `figbuild login` writes."""
    return Path(fastpath.config_home(environ))


def stored(environ: Mapping[str, str] | None = None) -> Found | None:
    """The key kept by `figbuild login`, or None when none is. A file anyone but its
    owner may read, or one owned by someone else, is a usage error saying the fix."""
    folder = config_dir(environ)
    file = folder / FILE_NAME
    key = _read_file(file)
    if key is not None:
        return Found(key, "file", str(file))
    marker = folder / MARKER_NAME
    if not marker.exists():
        return None
    backend = _marker_backend(marker)
    keyring = _keyring_module()
    if keyring is None:
        raise UsageError(
            f"the API key was stored in the system keyring ({backend}), "
            "but the keyring package is not installed here",
            hint="pip install 'figbuild[keyring]', or run `figbuild login` again to store it in a file",
        )
    try:
        key = keyring.get_password(SERVICE, USERNAME)
    except Exception as exc:  # keyring's errors vary by backend: locked, no D-Bus, ...
        raise UsageError(
            f"the system keyring ({backend}) could not be read: {type(exc).__name__}",
            hint="unlock the keyring, or run `figbuild login` again",
        ) from None
    if not key:
        return None
    return Found(key.strip(), "keyring", backend)


def _read_file(file: Path) -> str | None:
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(
            f"cannot read {file}: {exc.strerror}", hint="fix it, or remove it and run `figbuild login`"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise UsageError(
                f"{file} belongs to another user; figbuild does not use a key someone else can change",
                hint="remove it and run `figbuild login`",
            )
        if info.st_mode & _LOOSE:
            raise UsageError(
                f"{file} may be read by other users (mode {stat.S_IMODE(info.st_mode):03o}); "
                "figbuild does not use a key others can read",
                hint=f"run `chmod 600 {file}` (and consider replacing the key, as others could read it)",
            )
        text = handle.read(4096).decode("utf-8", "replace")
    return text.strip() or None


def _marker_backend(marker: Path) -> str:
    try:
        text = marker.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown backend"
    return text.strip().removeprefix("backend:").strip() or "unknown backend"


def _keyring_module() -> Any:
    try:
        import keyring
    except ImportError:
        return None
    return keyring


def usable_keyring() -> str | None:
    """The keyring backend `login` would store in (its name), or None: no ``keyring``
    package, or only its fail/null backends (a headless machine without a service)."""
    keyring = _keyring_module()
    if keyring is None:
        return None
    try:
        backend = keyring.get_keyring()
        priority = float(getattr(backend, "priority", 0))
    except Exception:
        return None
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if priority <= 0 or name.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return None
    chained = getattr(backend, "backends", None)
    if chained is not None and not chained:
        return None
    return name


def store(key: str, environ: Mapping[str, str] | None = None) -> Found:
    """Keep ``key`` for this user (keyring if usable, else the file); the other store is
    emptied, so the lookup never finds an old key. Returns where it went."""
    folder = config_dir(environ)
    _make_private_folder(folder)
    backend = usable_keyring()
    if backend is not None:
        keyring = _keyring_module()
        try:
            keyring.set_password(SERVICE, USERNAME, key)
        except Exception:
            backend = None  # a locked or absent service: the file is the fallback
    if backend is not None:
        _write_private(folder / MARKER_NAME, f"backend: {backend}\n")
        with contextlib.suppress(FileNotFoundError):
            (folder / FILE_NAME).unlink()
        return Found(key, "keyring", backend)
    _write_private(folder / FILE_NAME, key + "\n")
    with contextlib.suppress(FileNotFoundError):
        (folder / MARKER_NAME).unlink()
    return Found(key, "file", str(folder / FILE_NAME))


def remove(environ: Mapping[str, str] | None = None) -> list[str]:
    """Forget the stored key (both stores); what was removed, for the message."""
    folder = config_dir(environ)
    removed: list[str] = []
    marker = folder / MARKER_NAME
    if marker.exists():
        keyring = _keyring_module()
        if keyring is not None:
            with contextlib.suppress(Exception):  # already gone, or no service left
                keyring.delete_password(SERVICE, USERNAME)
        removed.append(f"the key in the system keyring ({_marker_backend(marker)})")
        marker.unlink()
    file = folder / FILE_NAME
    if file.exists() or file.is_symlink():
        file.unlink()
        removed.append(str(file))
    return removed


def _make_private_folder(folder: Path) -> None:
    """``folder`` (and missing parents) created 0700; an existing one of ours tightened."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise UsageError(
                f"{folder} is not a folder", hint="move it away and run `figbuild login`"
            ) from None
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise UsageError(
                f"{folder} belongs to another user", hint=f"set {CONFIG_ENV} to a folder of yours"
            ) from None
    folder.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, mode 0600 from its creation on, replacing it atomically."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
