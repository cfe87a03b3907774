"""A paper's history: the store seen from the pipeline, and the commands that use it.

The engine keeps every image it writes or overwrites through :class:`History`
and asks it, before paying, for an image already made for the exact request
(:meth:`History.sources`). ``log``, ``restore``, ``pick``, ``accept``, ``prune``
and ``store gc`` are the functions below; each holds the paper's run lock and
changes the lock file through its immutable updates, for 0 credits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from figbuild import atomic, images, lockfile
from figbuild.digests import sha256_file
from figbuild.errors import FigbuildError, UsageError
from figbuild.fingerprint import reasons
from figbuild.lockfile import Generated, Lock, Record
from figbuild.paper import Paper
from figbuild.plan import Plan, Source, make_plan
from figbuild.records import frozen
from figbuild.request import Terms
from figbuild.standins import fits_format, other_side, recognised, settle, stand_ins
from figbuild.state import FigureStatus, OrphanStatus, State
from figbuild.statedir import run_lock
from figbuild.store import Entry, GcResult, How, Ledger, Meta, Store, StoreError, StoreWarning, ledger
from figbuild.timestamps import now

if TYPE_CHECKING:  # imported where an image is stamped: a status never reads provenance
    from figbuild import provenance


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
        self._entries: list[Entry] | None = None
        self._by_request: dict[str, list[Entry]] | None = None  # real images, by fingerprint

    @property
    def store(self) -> Store:
        with self._opening:
            if self._store is None:
                self._store = Store.at(self.root, on_warning=self._on_warning)
            return self._store

    def known(self) -> list[Entry]:
        """Every entry of the store, newest first: read once per History (planning reads
        it before anything is written)."""
        if self._entries is None:
            try:
                self._entries = self.store.entries()
            except (OSError, StoreError):  # no store to read (a file where its folder goes)
                self._entries = []
        return self._entries

    def plan(
        self,
        statuses: list[FigureStatus],
        lock: Lock,
        *,
        force: bool = False,
        provisional: bool = False,
        terms: Terms,
        candidates: int | None = None,
        makes: str = "placeholder",
    ) -> Plan:
        """What a sync would do and cost: the one plan ``sync``, ``sync --dry-run``, ``status``
        and the gallery all report. The store is read only when a figure needs it."""
        sources = self.sources(statuses, lock) if not force else {}
        kept: dict[str, frozenset[int]] = {}
        if not provisional and not force:
            for status in statuses:
                if (candidates or status.resolved.figure.candidates) > 1:
                    kept[status.id] = self.kept(status.fingerprint)
        return make_plan(
            statuses,
            force=force,
            provisional=provisional,
            terms=terms,
            sources=sources,
            candidates=candidates,
            makes=makes,
            kept=kept,
        )

    def kept(self, fingerprint: str) -> frozenset[int]:
        """The numbers K of the candidates history keeps for a request (its only generated
        image counts as candidate 1): ``pick`` can put any of them in place."""
        if self._by_request is None:
            fake = stand_ins(self.known())
            self._by_request = {}
            for entry in self.known():
                if not entry.trimmed and entry.sha256 not in fake:
                    self._by_request.setdefault(entry.fingerprint, []).append(entry)
        entries = self._by_request.get(fingerprint, [])
        numbers = {e.candidate for e in entries if e.how is How.CANDIDATE and e.candidate}
        if 1 not in numbers and any(e.how is How.GENERATED for e in entries):
            numbers.add(1)
        return frozenset(numbers)

    def recognise(self, statuses: list[FigureStatus]) -> list[FigureStatus]:
        """Statuses in which an output called ``modified`` that holds an image figbuild
        made (one the store keeps, as after a merge that took one side's lock) is that
        image: pending when a task for the current inputs waits (it is collected over the
        image), else fresh (adopted) when made for the current inputs, else stale. A real
        hand edit stays modified. The store is read only when a figure is modified."""
        if not any(s.state is State.MODIFIED for s in statuses):
            return statuses
        fake = stand_ins(self.known())
        made: dict[str, list[Entry]] = {}
        for entry in self.known():
            if entry.sha256 not in fake and entry.how is not How.HAND_EDIT:
                made.setdefault(entry.sha256, []).append(entry)
        statuses = [recognised(status, made.get(status.output_sha256 or "", [])) for status in statuses]
        if any(s.state is State.MODIFIED for s in statuses):
            # A merge that kept our lock: the other side's images are in git's work tree, and
            # its lock (in the commit merged) records them.
            made = {}
            for entry in other_side(self.root):
                made.setdefault(entry.sha256, []).append(entry)
            statuses = [recognised(s, made.get(s.output_sha256 or "", [])) for s in statuses]
        return statuses

    def sources(self, statuses: Iterable[FigureStatus], lock: Lock) -> dict[str, Source]:
        """For each outdated figure, an image already made for its exact current request:
        in the store (newest first, the first candidate preferred) or, for locks older than
        the store, a file in the paper whose bytes the lock records for that request.
        Stand-ins (placeholder, emulator images, and copies of them) are never sources,
        nor an image that cannot become the output's format (a PDF into a PNG)."""
        outdated = [status for status in statuses if status.state.outdated]
        if not outdated:
            return {}
        # One read of the index for every figure (a lookup per figure reads it each time).
        everything = self.known()  # newest first
        fake = stand_ins(everything)
        made: dict[str, list[Entry]] = {}
        wanted = {status.fingerprint for status in outdated}
        for entry in everything:
            if entry.fingerprint in wanted and not entry.trimmed and entry.sha256 not in fake:
                made.setdefault(entry.fingerprint, []).append(entry)
        found: dict[str, Source] = {}
        recorded = _recorded(lock, wanted)  # one pass over the lock, not one per figure
        for status in outdated:
            fits = [e for e in made.get(status.fingerprint, []) if fits_format(e.suffix, status.output)]
            source = self._in_store(fits) or _in_paper(
                self.root, status, recorded.get(status.fingerprint, ())
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

    def stamp_for(self, entry: Entry, data: bytes) -> provenance.Provenance | None:
        """The provenance a stored image is written back with (see :func:`provenance.for_stored`)."""
        from figbuild import provenance

        found = provenance.read(data)
        if entry.how in (How.GENERATED, How.CANDIDATE) or found is None or found.provisional:
            unmodified = True  # not asked
        else:
            made = (e for e in self.store.entries() if e.how in (How.GENERATED, How.CANDIDATE))
            unmodified = any(e.sha256 == entry.sha256 for e in made)
        return provenance.for_stored(_facts(entry), found, unmodified)

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
    status: FigureStatus,
    sha256: str,
    how: How,
    entry: Entry | None = None,
    credits: int = 0,
    known: Iterable[Entry] = (),
) -> Generated:
    """The record of an image put in place for a figure's *current* inputs (restored,
    picked, accepted, adopted): fresh until an input changes, unless it only stands in
    (see :func:`settle`; ``known`` are store entries that may say so). ``entry`` is the
    stored version it came from, if any."""
    current = status.resolved.fingerprint
    how = settle(how, sha256, [*known, *([entry] if entry else [])], status.record.generated)
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


def _facts(entry: Entry) -> provenance.Provenance:
    from figbuild import provenance

    return provenance.Provenance(
        entry.how.value,
        entry.model,
        entry.task_id,
        entry.fingerprint,
        entry.when,
        entry.resolution,
        entry.candidate,
    )


def _recorded(lock: Lock, fingerprints: set[str]) -> dict[str, list[Generated]]:
    """The lock's non-provisional images for each of ``fingerprints``, in the lock's order."""
    found: dict[str, list[Generated]] = {}
    for record in lock.figures.values():
        generated = record.generated
        if generated is not None and generated.fingerprint in fingerprints and not generated.provisional:
            found.setdefault(generated.fingerprint, []).append(generated)
    return found


def _in_paper(root: Path, status: FigureStatus, recorded: Iterable[Generated]) -> Source | None:
    """A file in the paper holding an image the lock records for the figure's request (an
    old output after ``output_dir`` moved, a renamed figure's output): ``recorded`` are
    the lock's images for that request."""
    for generated in recorded:
        if not fits_format(PurePosixPath(generated.output).suffix, status.output):
            continue
        if sha256_file(root / generated.output) == generated.sha256:
            return Source(generated.sha256, path=generated.output)
    return None


# -- commands -------------------------------------------------------------------


@frozen
class Version:
    """One version of a figure as ``log`` shows it: numbered from 1, the oldest."""

    number: int
    entry: Entry
    current: bool


@frozen
class FigureLog:
    figure_id: str
    versions: tuple[Version, ...]  # newest first


@frozen
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
    """Write the entry's image as the figure's (converted to the output's format as a fresh
    download is, or refused with the reason), pinned to its current inputs under the
    provisional rule (:func:`settle`), and record it in the lock (and, unless it is the
    figure's own candidate, in the store)."""
    data = store.read(entry)
    if data is None:
        raise UsageError(f"that image of {status.id} is no longer in the store (trimmed or damaged)")
    try:
        data = images.fit(data, images.format_for(status.output), f"that image of {status.id}")
    except images.ImageError as exc:
        raise UsageError(
            f"{exc}, so it cannot be put at {status.output}",
            hint=f"`figbuild log {status.id}` lists its versions; `figbuild sync {status.id}` makes one",
        ) from None
    target = paper.root / status.output
    history = History(paper.root, store=store)
    history.keep_before_overwrite(status.id, target, status.record)
    stamp = history.stamp_for(entry, data)
    if stamp is not None:  # an image stored before figbuild stamped them, or a hand edit
        from figbuild import provenance

        data = provenance.restamp(data, images.format_for(status.output), stamp)
    atomic.write_bytes(target, data)
    known = store.entries()
    sha = sha256_file(target) or entry.sha256
    current = status.resolved.fingerprint
    credits = entry.credits if how is How.CANDIDATE else 0
    settled = settle(how, entry.sha256, [*known, entry], status.record.generated)
    meta = Meta(
        current.digest,
        status.id,
        settled,
        entry.task_id,
        credits,
        entry.model,
        entry.resolution,
        entry.candidate,
    )
    if how is not How.CANDIDATE or sha != entry.sha256:
        store.put(data, replace(meta, changed=f"the version of {entry.when}"))
    generated = pinned(status, sha, settled, entry, credits)
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
        fake = stand_ins(store.entries())
        found = [e for e in store.lookup(status.fingerprint) if e.sha256 not in fake]
        made = [e for e in found if e.how is How.CANDIDATE]
        chosen = [e for e in made if e.candidate == candidate]
        if not chosen and candidate == 1:  # its only generated image is candidate 1
            chosen = [e for e in found if e.how is How.GENERATED]
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
    a file placed by hand, an image made under older content rules): stored, then fresh,
    unless it only stands in (an emulator image stays one; see :func:`settle`). Only a
    file that is a complete image of the output's format is accepted."""
    with run_lock(paper.root):
        store = Store.at(paper.root)
        lock = paper.read_lock()
        statuses = paper.statuses(paper.resolve(tuple(ids)), lock)
        known = store.entries()
        for status in statuses:
            target = paper.root / status.output
            _check_acceptable(status, target)
            how = settle(How.ACCEPTED, sha256_file(target) or "", known, status.record.generated)
            # The store hashes what it keeps: that hash is the one recorded.
            entry = store.put(target, Meta(status.fingerprint, status.id, how, changed="accepted as is"))
            lock = lock.with_generated(status.id, pinned(status, entry.sha256, how, known=known))
        lockfile.write(paper.lock_path, lock)
        return [status.id for status in statuses]


def _check_acceptable(status: FigureStatus, target: Path) -> None:
    """Refuse, with the reason, anything but a complete image of the output's format."""
    if target.is_symlink():
        raise UsageError(
            f"{status.id}: {status.output} is a symbolic link; figbuild accepts only an image file there",
            hint=f"copy the image itself to {status.output}, then accept it",
        )
    if not target.is_file():
        raise UsageError(f"{status.id}: there is no image at {status.output} to accept")
    want = images.format_for(status.output)
    try:
        have = images.verify(target)
    except images.ImageError as exc:
        raise UsageError(
            f"{status.id}: {exc}; not accepted", hint=f"put a {want} image at {status.output}"
        ) from None
    if have != want:
        raise UsageError(
            f"{status.id}: {status.output} holds a {have} image, not a {want}; not accepted",
            hint=f"save it as {want}, or change the figure's output to match",
        )


def left_behind(paper: Paper, lock: Lock) -> dict[str, list[str]]:
    """Old outputs a moved ``output``/``output_dir`` left on disk, by figure id: files at
    outputs the lock remembers that no figure of the manifest names now."""
    outputs = {figure.output for figure in paper.manifest.figures}
    found: dict[str, list[str]] = {}
    for figure_id, record in sorted(lock.figures.items()):
        for path in record.left_behind:
            if path not in outputs and (paper.root / path).is_file():
                found.setdefault(figure_id, []).append(path)
    return found


def outlook(paper: Paper, lock: Lock, ids: tuple[str, ...] = ()) -> tuple[list[FigureStatus], Plan]:
    """Each figure's state and what a sync would do and cost, as ``sync`` counts it (the
    real API's prices): what ``status`` and the gallery show."""
    return foresee(paper, lock, paper.statuses(paper.resolve(ids), lock))


def foresee(paper: Paper, lock: Lock, statuses: list[FigureStatus]) -> tuple[list[FigureStatus], Plan]:
    """``statuses`` with the images history holds for them recognised, and the plan a
    sync would carry out for them: `outlook` for statuses already taken."""
    history = History(paper.root)
    recognised = history.recognise(statuses)
    return recognised, history.plan(recognised, lock, terms=paper.terms)


def prune(paper: Paper, *, dry_run: bool = False) -> tuple[list[OrphanStatus], list[str]]:
    """Store, then remove, the outputs and records of figures no longer in the manifest,
    and the old outputs a move left behind. Paid tasks still pending are kept: pruning
    never throws away money. Returns the orphans and the left-behind outputs removed."""
    with run_lock(paper.root):
        lock = paper.read_lock()
        orphans = [orphan for orphan in paper.orphans(lock) if not orphan.record.pending]
        left = left_behind(paper, lock)
        removed = [path for paths in left.values() for path in paths]
        if dry_run:
            return orphans, removed
        history = History(paper.root)
        for figure_id, paths in left.items():
            for path in paths:
                _store_file(history, figure_id, paper.root / path, lock)
                (paper.root / path).unlink(missing_ok=True)
            lock = lock.without_left_behind(figure_id, tuple(paths))
        for orphan in orphans:
            generated = orphan.record.generated
            if generated is not None:
                target = paper.root / generated.output
                history.keep_before_overwrite(orphan.id, target, orphan.record)
                if not _used_by_manifest(paper, generated.output):
                    target.unlink(missing_ok=True)
            lock = lock.without(orphan.id)
        lockfile.write(paper.lock_path, lock)
        return orphans, removed


def _store_file(history: History, figure_id: str, path: Path, lock: Lock) -> None:
    """Keep a file about to be removed: under the image the lock records, if it is that."""
    sha = sha256_file(path)
    if sha is None or any(entry.sha256 == sha for entry in history.known()):
        return  # already kept
    generated = lock.record(figure_id).generated
    if generated is not None and generated.sha256 == sha:
        meta = meta_of(figure_id, generated, changed="left behind by a move")
    else:
        fingerprint = generated.fingerprint if generated is not None else ""
        meta = Meta(
            fingerprint=fingerprint, figure=figure_id, how=How.HAND_EDIT, changed="left behind by a move"
        )
    history.keep(path, meta)


def _used_by_manifest(paper: Paper, output: str) -> bool:
    return any(figure.output == output for figure in paper.manifest.figures)


def gc(paper: Paper, keep: int, *, dry_run: bool = False) -> GcResult:
    """Trim old versions beyond the newest ``keep`` per figure; never a current image, nor
    any image (candidates included) made for a figure's current request."""
    with run_lock(paper.root):
        lock = paper.read_lock()
        protect = {r.generated.sha256 for r in lock.figures.values() if r.generated is not None}
        store = Store.at(paper.root)
        # Every image of a figure's current request is kept, its paid candidates
        # included (they may still be picked), however many there are.
        current = {r.generated.fingerprint for r in lock.figures.values() if r.generated is not None}
        current |= {p.fingerprint for r in lock.figures.values() for p in r.pending}
        with contextlib.suppress(FigbuildError):
            current |= {item.fingerprint.digest for item in paper.resolve()}
        protect |= {entry.sha256 for entry in store.entries() if entry.fingerprint in current}
        return store.gc(keep, protect, dry_run=dry_run)


def changed(old: Generated | None, new_parts: dict[str, str]) -> str:
    """What changed from the figure's previous image to this one, in words."""
    if old is None:
        return "first version"
    why = "; ".join(reasons(old.parts, new_parts))
    if old.provisional:
        stand_in = "an emulator image" if old.how == "emulator" else "a placeholder"
        return f"replaced {stand_in}" + (f"; {why}" if why else "")
    return why or "same inputs"
