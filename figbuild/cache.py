"""A private, disposable cache per paper in the user's cache directory; safe to delete.

The folder is the user's own (0700) and a cache file that is not the user's, or
that others may write, is ignored: another user cannot make figbuild believe a
file unchanged.

It remembers work whose result depends only on its key: that a manifest text
passed the schema, and what a prompt template renders to with given vars. A
cache written by another figbuild version is ignored. It lives outside the
paper so that read-only commands (status, validate) write nothing into it.

The user cache is bounded: once a day at most, a save removes every file of it
(papers' caches, the fast path's snapshots) unused for :data:`MAX_AGE`, then the least
recently used until the rest fit :data:`MAX_BYTES`. A paper's cache counts as used
when it is read; a snapshot, when it is written.

It is stored with :mod:`marshal`, which reads a 2,000-figure paper's cache several
times faster than JSON; the file name carries the Python version, whose marshal
format it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import sys
import time
from pathlib import Path
from typing import Any

from figbuild import __version__, atomic, fastpath

#: Set (to anything but "" or "0") to make the full path remember nothing and take no
#: shortcut: no paper cache is read or written (every manifest, prompt, content file
#: and output is checked, rendered, read and hashed again) and the schema is always
#: checked by jsonschema. For comparing the two, as ``FIGBUILD_NO_FASTPATH`` does.
DISABLE_ENV = "FIGBUILD_NO_CACHE"


def enabled() -> bool:
    """Whether the full path's caches and shortcuts are on (see :data:`DISABLE_ENV`)."""
    return os.environ.get(DISABLE_ENV, "") in ("", "0")


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/figbuild`` (``~/.cache``), or ``~/Library/Caches/figbuild`` on macOS."""
    return Path(fastpath.cache_home())


#: A file of the user cache unused for this long (seconds) is removed: 30 days.
MAX_AGE = 30 * 86_400
#: Past this many bytes in all, the least recently used files are removed first.
MAX_BYTES = 256 * 2**20
#: Eviction runs at most this often; the mtime of :data:`STAMP` says when it last ran.
EVICT_EVERY = 86_400
STAMP = ".evicted"


def evict(
    home: Path | None = None,
    *,
    now: float | None = None,
    max_age: float = MAX_AGE,
    max_bytes: int = MAX_BYTES,
) -> list[Path]:
    """Remove the files under ``home`` (the user cache) unused for ``max_age`` seconds,
    then the least recently used until the rest fit in ``max_bytes``; what was removed.

    Everything there is disposable, so a file that vanishes or resists is skipped, and
    symbolic links are neither followed nor removed.
    """
    home = cache_home() if home is None else home
    now = time.time() if now is None else now
    found: list[tuple[float, int, Path]] = []
    for folder, _, names in os.walk(home):
        for name in names:
            path = Path(folder, name)
            with contextlib.suppress(OSError):
                st = path.lstat()
                if name != STAMP and not path.is_symlink():
                    found.append((st.st_mtime, st.st_size, path))
    found.sort()  # least recently used first
    total = sum(size for _, size, _ in found)
    removed: list[Path] = []
    for mtime, size, path in found:
        if mtime >= now - max_age and total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
        total -= size
    return removed


def evict_now_and_then(home: Path | None = None, *, now: float | None = None) -> list[Path]:
    """:func:`evict`, if it has not run in the last :data:`EVICT_EVERY` seconds."""
    home = cache_home() if home is None else home
    now = time.time() if now is None else now
    stamp = home / STAMP
    with contextlib.suppress(OSError):
        if now - stamp.stat().st_mtime < EVICT_EVERY:
            return []
    try:
        fastpath.private_dir(str(home))  # another user's folder: never written, nor swept
        stamp.touch()
        os.utime(stamp, (now, now))
    except OSError:
        return []  # a cache that cannot be written has nothing to evict either
    return evict(home, now=now)


def key_of(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


class Cache:
    def __init__(self, root: Path | None) -> None:
        """The cache of the paper at ``root``, or one in memory only when None (or when
        ``FIGBUILD_NO_CACHE`` is set)."""
        self.path: Path | None = None
        if root is not None and enabled():
            python = f"py{sys.version_info[0]}{sys.version_info[1]}"
            self.path = cache_home() / f"{key_of(str(root.resolve()))[:24]}.{python}.marshal"
        self._data: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if self.path is not None:
            with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
                # Only a file of this user's, in a folder of this user's: anything else is ignored.
                document = marshal.loads(fastpath.read_owned(str(self.path)))  # noqa: S302
                if isinstance(document, dict) and document.get("figbuild") == __version__:
                    self._data = {k: v for k, v in document.items() if isinstance(v, dict)}
                    _mark_used(self.path)

    def get(self, section: str, key: str) -> Any:
        return self._data.get(section, {}).get(key)

    def put(self, section: str, key: str, value: Any) -> None:
        bucket = self._data.setdefault(section, {})
        if bucket.get(key) != value:
            bucket[key] = value
            self._dirty = True

    def replace(self, section: str, values: dict[str, Any]) -> None:
        """Make ``values`` the whole of ``section``."""
        if self._data.get(section) != values:
            self._data[section] = values
            self._dirty = True

    def prune(self, keep: dict[str, set[str]]) -> None:
        """Prune each named section to those keys (written by the next :meth:`save`)."""
        for section, keys in keep.items():
            bucket = self._data.get(section, {})
            stale = set(bucket) - keys
            for key in stale:
                del bucket[key]
            self._dirty |= bool(stale)

    def save(self, keep: dict[str, set[str]] | None = None) -> None:
        """Write the cache if it changed; ``keep`` prunes each named section to those keys.

        A cache that cannot be written is no error: it only costs speed next time.
        """
        self.prune(keep or {})
        if not self._dirty or self.path is None:
            return
        document = {"figbuild": __version__, **self._data}
        try:
            # Keys keep their order: a cached manifest's figures are in the manifest's order.
            data = marshal.dumps(document)
        except ValueError:  # a YAML date or the like: stored as text, as JSON would
            data = marshal.dumps(json.loads(json.dumps(document, default=str)))
        try:
            fastpath.private_dir(str(self.path.parent))
            atomic.write_bytes(self.path, data, mode=0o600)
        except OSError:
            return  # a cache that cannot be written (or is not this user's) is no error
        self._dirty = False
        evict_now_and_then(self.path.parent)


def _mark_used(path: Path) -> None:
    """Refresh the mtime of a cache that was read (eviction goes by it): once a day at
    most, so that a read-only command does not write metadata on every run."""
    now = time.time()
    if now - path.stat().st_mtime > EVICT_EVERY:
        os.utime(path, (now, now))
