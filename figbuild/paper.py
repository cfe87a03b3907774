"""A paper on disk: its manifest, its lock file, and the state of its figures."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from figbuild import lockfile, vcs
from figbuild import manifest as manifests
from figbuild.backends import default_terms
from figbuild.cache import Cache
from figbuild.digests import StatCache, sha256_file
from figbuild.errors import FileError, ManifestError, Problem
from figbuild.lockfile import Lock
from figbuild.manifest import Manifest
from figbuild.paths import RootGuard
from figbuild.records import frozen
from figbuild.request import Terms
from figbuild.resolve import Resolved, resolve, resolve_each
from figbuild.state import ErrorStatus, FigureStatus, OrphanStatus, classify


@frozen
class Paper:
    manifest: Manifest
    cache: Cache
    #: The target API's prices and limits, which every figure is resolved against.
    terms: Terms

    @classmethod
    def open(cls, directory: Path, *, search_parents: bool = False) -> Paper:
        """Load and validate the paper whose manifest is in ``directory`` (or, with
        ``search_parents``, the nearest directory above it that has one)."""
        path = manifests.find(directory, search_parents=search_parents)
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

    def survey(
        self, ids: tuple[str, ...], lock: Lock
    ) -> tuple[list[FigureStatus], list[ErrorStatus], list[Problem]]:
        """The state of every named figure that resolves, an error row for each one that
        does not (in manifest order), so that one broken figure hides no other, and the
        problems of those."""
        figures = self.manifest.select(ids) if ids else None
        # One cache write for both (statuses() saves what resolving learnt too).
        resolved, broken = resolve_each(self.manifest, figures, self.cache, self.terms, save=False)
        statuses = self.statuses(resolved, lock)
        errors = [
            ErrorStatus(
                figure.id,
                figure.output,
                lock.record(figure.id),
                tuple(_reason(problem) for problem in broken[figure.id]),
            )
            for figure in self.manifest.figures
            if figure.id in broken
        ]
        return statuses, errors, [problem for error in errors for problem in broken[error.id]]

    def ignored_outputs(self, statuses: Iterable[FigureStatus]) -> dict[str, str]:
        """The outputs git would leave out of a commit, each with the rule that ignores it:
        a co-author's clone would have to pay for them again."""
        return vcs.ignored(self.root, [status.output for status in statuses], self.manifest.path.name)

    def orphans(self, lock: Lock) -> list[OrphanStatus]:
        """Lock records of figures no longer in the manifest, in id order."""
        known = {figure.id for figure in self.manifest.figures}
        return [OrphanStatus(fid, record) for fid, record in sorted(lock.figures.items()) if fid not in known]

    def statuses(self, resolved: list[Resolved], lock: Lock) -> list[FigureStatus]:
        """The state of each resolved figure against ``lock`` and the files on disk."""
        stats = StatCache(self.cache, "outputs")
        # Images the lock records per request, whichever figure they were made for: an
        # output holding one of them for its own request is that figure's image.
        recorded: dict[str, set[str]] = {}
        for record in lock.figures.values():
            if record.generated is not None and not record.generated.provisional:
                recorded.setdefault(record.generated.fingerprint, set()).add(record.generated.sha256)
        statuses = [
            classify(
                item,
                lock.record(item.figure.id),
                _digest(self.root / item.figure.output, stats),
                frozenset(recorded.get(item.fingerprint.digest, ())),
            )
            for item in resolved
        ]
        everything = len(resolved) == len(self.manifest.figures)
        self.cache.save(keep={"outputs": stats.keys} if everything else None)
        return statuses


def _reason(problem: Problem) -> str:
    """A problem as an error row's reason: the message and its hint, without the figure."""
    return problem.message + (f" (hint: {problem.hint})" if problem.hint else "")


def _digest(path: Path, stats: StatCache) -> str | None:
    try:
        return sha256_file(path, stats)
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}", hint="check its permissions") from None
