"""A figure's versions and the credit ledger, read from the store (``figbuild.store``).

Versions are numbered from 1, the oldest, over the store's history of the figure
in this paper; a paper whose images predate the store shows the lock's record as
its only version. Nothing here writes: reading a gallery never changes history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from figbuild.gallery.model import Image, Ledger, LockHistory, Version
from figbuild.lockfile import Generated, Lock
from figbuild.state import FigureStatus
from figbuild.store import Entry, How, Store, ledger


class StoreHistory:
    """Versions and ledger from ``store``, completed by the lock of the paper at ``root``."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root

    def entries(self, figure_id: str) -> list[Entry]:
        """The figure's stored versions in this paper, oldest first."""
        return sorted(self.store.history(figure_id), key=lambda entry: entry.order)

    def versions(self, status: FigureStatus, current_sha256: str | None) -> Sequence[Version]:
        digest = status.resolved.fingerprint.digest
        entries = self.entries(status.id)
        if not entries:  # images made before the store existed: the lock knows the last one
            return LockHistory(self.root).versions(status, current_sha256)
        # Copies of one image (restored, accepted, picked again) are one version: the
        # image as first stored, with the later copies as its history of restores.
        groups: dict[str, list[tuple[int, Entry]]] = {}
        for number, entry in enumerate(entries, start=1):
            groups.setdefault(entry.sha256, []).append((number, entry))
        versions = [self._collapsed(group, digest, current_sha256) for group in groups.values()]
        versions.sort(key=lambda version: version.number)
        return tuple(reversed(versions))

    def _collapsed(self, group: list[tuple[int, Entry]], digest: str, current_sha256: str | None) -> Version:
        """One version for every entry of one image: numbered (for ``restore``) as its
        latest copy, described as first made, current only if those bytes are in place."""
        number, first = group[0]
        latest = group[-1][0]
        version = self._version(latest, first, digest, current_sha256)
        candidate = next((e.candidate for _, e in group if e.how is How.CANDIDATE and e.candidate), None)
        copies = tuple(f"{e.how.value} {e.when}" for _, e in group[1:])
        return replace(
            version,
            candidate=candidate,
            for_current_inputs=any(e.fingerprint == digest for _, e in group),
            copies=copies,
            first_number=number,
        )

    def _version(self, number: int, entry: Entry, digest: str, current_sha256: str | None) -> Version:
        present = entry.sha256 == current_sha256
        return Version(
            number=number,
            when=entry.when,
            how=entry.how.value,
            image=self._image(entry),
            task_id=entry.task_id,
            credits=entry.credits,
            model=entry.model,
            resolution=entry.resolution,
            candidate=entry.candidate if entry.how is How.CANDIDATE else None,
            changed=entry.changed,
            for_current_inputs=entry.fingerprint == digest,
            current=present,
        )

    def _image(self, entry: Entry) -> Image | None:
        if entry.trimmed or not self.store.verify(entry, hash_bytes=False):
            return None
        return Image(entry.sha256, self.store.object_path(entry.sha256), entry.suffix)

    def ledger(self, lock: Lock) -> Ledger:
        """Credits of this paper's stored images and of the lock's records, each task once."""
        mine = [
            e for e in self.store.entries() if self.store.paper is not None and e.paper == self.store.paper
        ]
        result = ledger([*mine, *_lock_entries(lock)])
        return Ledger(result.by_figure, result.by_month, result.total, result.pretend)


#: The ``paper`` of an entry made up from a lock record, for the ledger (never a real paper's label).
_LOCK = "\0lock"


def _entry_of(figure_id: str, generated: Generated) -> Entry:
    return Entry(
        id=f"lock-{figure_id}",
        fingerprint=generated.fingerprint,
        figure=figure_id,
        paper=_LOCK,
        sha256=generated.sha256,
        suffix=Path(generated.output).suffix,
        size=0,
        how=How.of(generated.how),
        when=generated.generated_at,
        task_id=generated.task_id,
        credits=generated.credits,
        model=generated.model,
        resolution=generated.resolution,
    )


def _lock_entries(lock: Lock) -> Iterator[Entry]:
    """Every charge the lock records, as entries the store's ledger can count."""
    for figure_id, record in lock.figures.items():
        if record.generated is not None:
            yield _entry_of(figure_id, record.generated)
        for number, pending in enumerate(record.pending):
            yield Entry(
                id=f"lock-{figure_id}-pending-{number}",
                fingerprint=pending.fingerprint,
                figure=figure_id,
                paper=_LOCK,
                sha256="",
                suffix="",
                size=0,
                how=How.GENERATED,
                when=pending.submitted_at,
                task_id=pending.task_id,
                credits=pending.credits,
            )
