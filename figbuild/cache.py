"""A private, disposable cache per paper in the user's cache directory; safe to delete.

The folder is the user's own (0700) and a cache file that is not the user's, or
that others may write, is ignored: another user cannot make figbuild believe a
file unchanged.

It remembers work whose result depends only on its key: that a manifest text
passed the schema, and what a prompt template renders to with given vars. A
cache written by another figbuild version is ignored. It lives outside the
paper so that read-only commands (status, validate) write nothing into it.

It is stored with :mod:`marshal`, which reads a 2,000-figure paper's cache several
times faster than JSON; the file name carries the Python version, whose marshal
format it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import sys
from pathlib import Path
from typing import Any

from figbuild import __version__, atomic, fastpath


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/figbuild`` (``~/.cache``), or ``~/Library/Caches/figbuild`` on macOS."""
    return Path(fastpath.cache_home())


def key_of(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


class Cache:
    def __init__(self, root: Path | None) -> None:
        """The cache of the paper at ``root``, or one in memory only when None."""
        self.path: Path | None = None
        if root is not None:
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

    def save(self, keep: dict[str, set[str]] | None = None) -> None:
        """Write the cache if it changed; ``keep`` prunes each named section to those keys.

        A cache that cannot be written is no error: it only costs speed next time.
        """
        for section, keys in (keep or {}).items():
            bucket = self._data.get(section, {})
            stale = set(bucket) - keys
            for key in stale:
                del bucket[key]
            self._dirty |= bool(stale)
        if not self._dirty or self.path is None:
            return
        document = {"figbuild": __version__, **self._data}
        try:
            # Keys keep their order: a cached manifest's figures are in the manifest's order.
            data = marshal.dumps(document)
        except ValueError:  # a YAML date or the like: stored as text, as JSON would
            data = marshal.dumps(json.loads(json.dumps(document, default=str)))
        with contextlib.suppress(OSError):
            fastpath.private_dir(str(self.path.parent))
            atomic.write_bytes(self.path, data, mode=0o600)
        self._dirty = False
