"""A paper's history: the store seen from the pipeline, and the commands that use it.

The engine keeps every image it writes or overwrites through :class:`History`
and asks it, before paying, for an image already made for the exact request
(:meth:`History.sources`). ``log``, ``restore``, ``pick``, ``accept``, ``prune``
and ``store gc`` are the functions below; each holds the paper's run lock and
changes the lock file through its immutable updates, for 0 credits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from figbuild import atomic, lockfile
from figbuild.digests import sha256_file
from figbuild.errors import UsageError
from figbuild.fingerprint import reasons
from figbuild.lockfile import Generated, Lock, Record
from figbuild.paper import Paper
from figbuild.plan import Source
from figbuild.state import FigureStatus, OrphanStatus
from figbuild.statedir import run_lock
from figbuild.store import Entry, GcResult, How, Ledger, Meta, Store, StoreWarning, ledger
from figbuild.timestamps import now


class History:
    """The store of one paper for one run; opened on first use, so a run that restores
    and writes nothing never reads it. Safe to share between worker threads."""

    def __init__(
        self,
        root: Path,
        on_warning: Callable[[StoreWarning], None] | None = None,
        store: Store | None = None,
    ) -> None:
        self.root = root
        self._on_warning = on_warning
        self._store = store
        self._opening = threading.Lock()

    @property
    def store(self) -> Store:
        with self._opening:
            if self._store is None:
                self._store = Store.at(self.root, on_warning=self._on_warning)
            return self._store

    def sources(self, statuses: Iterable[FigureStatus], lock: Lock) -> dict[str, Source]:
        """For each outdated figure, an image already made for its exact current request:
        in the store (newest first, the first candidate preferred) or, for locks older than
        the store, a file in the paper whose bytes the lock records for that request."""
        outdated = [status for status in statuses if status.state.outdated]
        if not outdated:
            return {}
        # One read of the index for every figure (a lookup per figure reads it each time).
        made: dict[str, list[Entry]] = {}
        wanted = {status.fingerprint for status in outdated}
        for entry in self.store.entries():  # newest first
            if entry.fingerprint in wanted and not entry.trimmed and not entry.how.provisional:
                made.setdefault(entry.fingerprint, []).append(entry)
        found: dict[str, Source] = {}
        recorded = _recorded(lock, wanted)  # one pass over the lock, not one per figure
        for status in outdated:
            source = self._in_store(made.get(status.fingerprint, [])) or _in_paper(
                self.root, recorded.get(status.fingerprint, ())
            )
            if source is not None:
                found[status.id] = source
        return found

    def _in_store(self, entries: list[Entry]) -> Source | None:
        """The first entry whose bytes verify, the first candidate preferred."""
        ordered = sorted(entries, key=lambda entry: entry.candidate not in (None, 1))  # stable
        entry = next((entry for entry in ordered if self.store.verify(entry)), None)
        return Source(entry.sha256, entry=entry) if entry else None

    def read(self, source: Source) -> bytes | None:
        """The source's bytes, verified against its sha256; None when they are gone or damaged."""
        if source.entry is not None:
            return self.store.read(source.entry)
        assert source.path is not None
        path = self.root / source.path
        if sha256_file(path) != source.sha256:
            return None
        return path.read_bytes()

    def keep(self, data: Path | bytes, meta: Meta) -> Entry:
        return self.store.put(data, meta)

    def keep_before_overwrite(self, figure_id: str, target: Path, record: Record) -> None:
        """Store the file at ``target`` (about to be replaced): the recorded image under its
        own request, anything else as a hand edit. Nothing is ever lost to an overwrite."""
        sha = sha256_file(target)
        if sha is None or any(entry.sha256 == sha for entry in self.store.history(figure_id)):
            return  # nothing there, or already kept
        generated = record.generated
        if generated is not None and generated.sha256 == sha:
            meta = meta_of(figure_id, generated)
        else:
            fingerprint = generated.fingerprint if generated is not None else ""
            meta = Meta(fingerprint=fingerprint, figure=figure_id, how=How.HAND_EDIT)
        self.keep(target, meta)


def pinned(
    status: FigureStatus, sha256: str, how: How, entry: Entry | None = None, credits: int = 0
) -> Generated:
    """The record of an image put in place for a figure's *current* inputs (restored,
    picked, accepted, adopted): fresh until an input changes. ``entry`` is the stored
    version it came from, if any."""
    current = status.resolved.fingerprint
    return Generated(
        fingerprint=current.digest,
        parts=dict(current.parts),
        output=status.output,
        sha256=sha256,
        generated_at=now(),
        how=how.value,
        task_id=entry.task_id if entry else None,
        credits=credits,
        model=entry.model if entry else None,
        resolution=entry.resolution if entry else None,
        candidate=entry.candidate if entry else None,
    )


def meta_of(figure_id: str, generated: Generated, changed: str = "") -> Meta:
    """What the history store keeps about the image a lock record describes."""
    return Meta(
        fingerprint=generated.fingerprint,
        figure=figure_id,
        how=How.of(generated.how),
        task_id=generated.task_id,
        credits=generated.credits,
        model=generated.model,
        resolution=generated.resolution,
        candidate=generated.candidate,
        changed=changed,
    )


def _recorded(lock: Lock, fingerprints: set[str]) -> dict[str, list[Generated]]:
    """The lock's non-provisional images for each of ``fingerprints``, in the lock's order."""
    found: dict[str, list[Generated]] = {}
    for record in lock.figures.values():
        generated = record.generated
        if generated is not None and generated.fingerprint in fingerprints and not generated.provisional:
            found.setdefault(generated.fingerprint, []).append(generated)
    return found


def _in_paper(root: Path, recorded: Iterable[Generated]) -> Source | None:
    """A file in the paper holding an image the lock records for a request (an old
    output after ``output_dir`` moved, a renamed figure's output): ``recorded`` are the
    lock's images for that request."""
    for generated in recorded:
        if sha256_file(root / generated.output) == generated.sha256:
            return Source(generated.sha256, path=generated.output)
    return None


# -- commands -------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """One version of a figure as ``log`` shows it: numbered from 1, the oldest."""

    number: int
    entry: Entry
    current: bool


@dataclass(frozen=True)
class FigureLog:
    figure_id: str
    versions: tuple[Version, ...]  # newest first


@dataclass(frozen=True)
class Log:
    figures: tuple[FigureLog, ...]
    ledger: Ledger


def versions(store: Store, figure_id: str, current: Generated | None) -> list[Version]:
    """The figure's versions, newest first, numbered from 1 (the oldest)."""
    entries = sorted(store.history(figure_id), key=lambda entry: entry.order)
    sha = current.sha256 if current is not None else None
    latest_current = max((i for i, e in enumerate(entries) if e.sha256 == sha), default=None)
    numbered = [Version(i + 1, entry, i == latest_current) for i, entry in enumerate(entries)]
    return list(reversed(numbered))


def log(paper: Paper, ids: Sequence[str] = ()) -> Log:
    """Every figure's versions (the named ones, or all the store and lock know) and the ledger."""
    store = Store.at(paper.root)
    lock = paper.read_lock()
    in_manifest = [figure.id for figure in paper.manifest.figures]
    wanted = list(ids) or in_manifest + sorted(set(lock.figures) - set(in_manifest))
    figures = tuple(
        FigureLog(figure_id, tuple(versions(store, figure_id, lock.record(figure_id).generated)))
        for figure_id in wanted
    )
    entries = [entry for entry in store.entries() if entry.paper == store.paper]
    return Log(figures, ledger(entries))


def _status_of(paper: Paper, figure_id: str) -> FigureStatus:
    [resolved] = paper.resolve((figure_id,))
    [status] = paper.statuses([resolved], paper.read_lock())
    return status


def _put_in_place(paper: Paper, status: FigureStatus, entry: Entry, how: How, store: Store) -> None:
    """Write the entry's image as the figure's, pinned to its current inputs, and record it
    in the lock (and, unless it is the figure's own candidate, in the store)."""
    data = store.read(entry)
    if data is None:
        raise UsageError(f"that image of {status.id} is no longer in the store (trimmed or damaged)")
    target = paper.root / status.output
    History(paper.root, store=store).keep_before_overwrite(status.id, target, status.record)
    atomic.write_bytes(target, data)
    current = status.resolved.fingerprint
    credits = entry.credits if how is How.CANDIDATE else 0
    meta = Meta(
        current.digest, status.id, how, entry.task_id, credits, entry.model, entry.resolution, entry.candidate
    )
    if how is not How.CANDIDATE:
        store.put(data, replace(meta, changed=f"the version of {entry.when}"))
    generated = pinned(status, entry.sha256, how, entry, credits)
    lockfile.write(paper.lock_path, paper.read_lock().with_generated(status.id, generated))


def restore(paper: Paper, figure_id: str, number: int) -> Version:
    """Put version ``number`` (as ``log`` numbers them) of a figure back, pinned to its
    current inputs: fresh until an input changes. No request, no credits."""
    with run_lock(paper.root):
        status = _status_of(paper, figure_id)
        store = Store.at(paper.root)
        chosen = [v for v in versions(store, figure_id, status.record.generated) if v.number == number]
        if not chosen:
            raise UsageError(
                f"{figure_id} has no version {number}", hint=f"`figbuild log {figure_id}` lists them"
            )
        _put_in_place(paper, status, chosen[0].entry, How.RESTORED, store)
        return chosen[0]


def pick(paper: Paper, figure_id: str, candidate: int) -> Entry:
    """Put candidate ``candidate`` of the figure's current request in place, for 0 credits."""
    with run_lock(paper.root):
        status = _status_of(paper, figure_id)
        store = Store.at(paper.root)
        made = [e for e in store.lookup(status.fingerprint) if e.how is How.CANDIDATE]
        chosen = [e for e in made if e.candidate == candidate]
        if not chosen:
            listed = ", ".join(str(n) for n in sorted({e.candidate for e in made if e.candidate})) or "none"
            raise UsageError(
                f"{figure_id} has no candidate {candidate} for its current inputs (candidates: {listed})",
                hint="set `candidates: N` and sync, or `figbuild sync --candidates N ID`",
            )
        _put_in_place(paper, status, chosen[0], How.CANDIDATE, store)
        return chosen[0]


def accept(paper: Paper, ids: Sequence[str]) -> list[str]:
    """Take the image on disk as each figure's image for its current inputs (a hand edit,
    a file placed by hand, an image made under older content rules): stored, then fresh."""
    with run_lock(paper.root):
        store = Store.at(paper.root)
        lock = paper.read_lock()
        statuses = paper.statuses(paper.resolve(tuple(ids)), lock)
        for status in statuses:
            target = paper.root / status.output
            if not target.is_file():
                raise UsageError(f"{status.id}: there is no image at {status.output} to accept")
            # The store hashes what it keeps: that hash is the one recorded.
            entry = store.put(
                target, Meta(status.fingerprint, status.id, How.ACCEPTED, changed="accepted as is")
            )
            lock = lock.with_generated(status.id, pinned(status, entry.sha256, How.ACCEPTED))
        lockfile.write(paper.lock_path, lock)
        return [status.id for status in statuses]


def prune(paper: Paper, *, dry_run: bool = False) -> list[OrphanStatus]:
    """Store, then remove, the outputs and records of figures no longer in the manifest.
    Paid tasks still pending are kept: pruning never throws away money."""
    with run_lock(paper.root):
        lock = paper.read_lock()
        orphans = [orphan for orphan in paper.orphans(lock) if not orphan.record.pending]
        if dry_run:
            return orphans
        history = History(paper.root)
        for orphan in orphans:
            generated = orphan.record.generated
            if generated is not None:
                target = paper.root / generated.output
                history.keep_before_overwrite(orphan.id, target, orphan.record)
                if not _used_by_manifest(paper, generated.output):
                    target.unlink(missing_ok=True)
            lock = lock.without(orphan.id)
        lockfile.write(paper.lock_path, lock)
        return orphans


def _used_by_manifest(paper: Paper, output: str) -> bool:
    return any(figure.output == output for figure in paper.manifest.figures)


def gc(paper: Paper, keep: int, *, dry_run: bool = False) -> GcResult:
    """Trim old versions beyond the newest ``keep`` per figure; never a current image."""
    with run_lock(paper.root):
        lock = paper.read_lock()
        protect = {r.generated.sha256 for r in lock.figures.values() if r.generated is not None}
        return Store.at(paper.root).gc(keep, protect, dry_run=dry_run)


def changed(old: Generated | None, new_parts: dict[str, str]) -> str:
    """What changed from the figure's previous image to this one, in words."""
    if old is None:
        return "first version"
    why = "; ".join(reasons(old.parts, new_parts))
    if old.provisional:
        stand_in = "an emulator image" if old.how == "emulator" else "a placeholder"
        return f"replaced {stand_in}" + (f"; {why}" if why else "")
    return why or "same inputs"
