"""A paper on disk: its manifest, its lock file, and the state of its figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from figbuild import lockfile
from figbuild import manifest as manifests
from figbuild.backends import default_terms
from figbuild.cache import Cache
from figbuild.digests import StatCache, sha256_file
from figbuild.errors import FileError, ManifestError
from figbuild.lockfile import Lock
from figbuild.manifest import Manifest
from figbuild.paths import RootGuard
from figbuild.request import Terms
from figbuild.resolve import Resolved, resolve
from figbuild.state import FigureStatus, classify


@dataclass(frozen=True)
class Paper:
    manifest: Manifest
    cache: Cache
    #: The target API's prices and limits, which every figure is resolved against.
    terms: Terms

    @classmethod
    def open(cls, directory: Path) -> Paper:
        """Load and validate the paper whose manifest is in ``directory``."""
        path = manifests.find(directory)
        cache = Cache(path.parent)
        terms = default_terms()
        manifest, problems = manifests.check(path, cache)
        if manifest is not None and not problems:
            return cls(manifest, cache, terms)
        if manifest is not None:
            # Also report what the figures that did pass would fail on, so that
            # every problem is fixed in one go.
            try:
                resolve(manifest, terms=terms)
            except ManifestError as exc:
                problems.extend(exc.problems)
        raise ManifestError(problems)

    @property
    def root(self) -> Path:
        return self.manifest.root

    @property
    def lock_path(self) -> Path:
        return self.root / lockfile.LOCK_NAME

    def read_lock(self) -> Lock:
        """The paper's lock, every path in it checked like a manifest path."""
        lock = lockfile.read(self.lock_path)
        outputs = frozenset(figure.output for figure in self.manifest.figures)
        lockfile.check_paths(lock, self.lock_path, RootGuard(self.root), outputs)
        return lock

    def resolve(self, ids: tuple[str, ...] = ()) -> list[Resolved]:
        """Every named figure (all when none are named), rendered and read."""
        return resolve(self.manifest, self.manifest.select(ids) if ids else None, self.cache, self.terms)

    def statuses(self, resolved: list[Resolved], lock: Lock) -> list[FigureStatus]:
        """The state of each resolved figure against ``lock`` and the files on disk."""
        stats = StatCache(self.cache, "outputs")
        statuses = [
            classify(item, lock.record(item.figure.id), _digest(self.root / item.figure.output, stats))
            for item in resolved
        ]
        everything = len(resolved) == len(self.manifest.figures)
        self.cache.save(keep={"outputs": stats.keys} if everything else None)
        return statuses


def _digest(path: Path, stats: StatCache) -> str | None:
    try:
        return sha256_file(path, stats)
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}", hint="check its permissions") from None
