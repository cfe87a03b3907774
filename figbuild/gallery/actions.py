"""What the served gallery's buttons do: the same core operations as the CLI's commands.

The server knows only the small :class:`Actions` interface; :class:`PaperActions`
carries each action out on a paper on disk, one at a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from figbuild import engine, lockfile
from figbuild.backends.base import Backend
from figbuild.digests import sha256_file
from figbuild.errors import ExitCode, FigbuildError
from figbuild.gallery.history import StoreHistory
from figbuild.lockfile import Generated
from figbuild.paper import Paper
from figbuild.report import Reporter
from figbuild.state import FigureStatus, State
from figbuild.statedir import run_lock
from figbuild.store import Entry, How, Meta, Store
from figbuild.timestamps import now

BackendFactory = Callable[[], contextlib.AbstractContextManager[Backend]]


class ActionFailed(FigbuildError):
    """An action was carried out but did not produce what was asked (the reason says why)."""

    exit_code = ExitCode.FAILED


class Actions(Protocol):
    """The gallery's buttons. Each returns a one-line message saying what it did, or
    raises a FigbuildError whose message the page shows."""

    def pick(self, figure_id: str, k: int) -> str:
        """Put candidate ``k`` (1-based) of the figure's current request in place."""

    def restore(self, figure_id: str, version: int) -> str:
        """Put version ``version`` (1 = the oldest) back, pinned to the current inputs."""

    def accept(self, figure_id: str) -> str:
        """Take the image on disk as the figure's image for its current inputs."""

    def sync(self, figure_id: str) -> str:
        """Bring this one figure up to date, as ``figbuild sync ID`` does."""


class PaperActions:
    """:class:`Actions` on the paper at ``root``; ``open_backend`` sets up the backend a
    sync uses (a fresh one per sync), ``max_credits`` caps each sync. One action runs at a time."""

    def __init__(
        self,
        root: Path,
        open_backend: BackendFactory,
        reporter: Reporter,
        *,
        max_credits: int | None = None,
        jobs: int | None = None,
    ) -> None:
        self.root = root
        self.open_backend = open_backend
        self.reporter = reporter
        self.max_credits = max_credits
        self.jobs = jobs
        self._one_at_a_time = threading.Lock()

    def _paper(self) -> Paper:
        return Paper.open(self.root)

    def sync(self, figure_id: str) -> str:
        with self._one_at_a_time:
            paper = self._paper()
            with self.open_backend() as backend:
                result = engine.sync(
                    paper,
                    backend,
                    self.reporter,
                    ids=(figure_id,),
                    max_credits=self.max_credits,
                    jobs=self.jobs,
                )
        if result.refusal:
            raise ActionFailed(f"{figure_id}: {result.refusal}")
        if result.failed:
            raise ActionFailed("; ".join(f"{fid}: {reason}" for fid, reason in result.failed))
        if result.generated:
            spent = f" for {result.credits_spent} credits" if result.credits_spent else ""
            return f"{figure_id}: written{spent}"
        skipped = [why for status, why in result.plan.skipped if status.id == figure_id]
        return f"{figure_id}: nothing to do" + (f" ({skipped[0]})" if skipped else "")

    def pick(self, figure_id: str, k: int) -> str:
        with self._one_at_a_time, run_lock(self.root):
            paper, status, store = self._figure(figure_id)
            found = [
                entry
                for entry in store.lookup(status.resolved.fingerprint.digest)
                if entry.how is How.CANDIDATE and entry.candidate == k
            ]
            if not found:
                raise ActionFailed(
                    f"{figure_id}: no candidate {k} for its current request",
                    hint="`figbuild log ID` lists the candidates; an input changed since they were made?",
                )
            self._put_in_place(paper, status, store, found[0])
        return f"{figure_id}: candidate {k} is in place, for 0 credits"

    def restore(self, figure_id: str, version: int) -> str:
        with self._one_at_a_time, run_lock(self.root):
            paper, status, store = self._figure(figure_id)
            entries = StoreHistory(store, paper.root).entries(figure_id)
            if not 1 <= version <= len(entries):
                raise ActionFailed(f"{figure_id} has no version {version} (it has {len(entries)})")
            entry = entries[version - 1]
            fingerprint = status.resolved.fingerprint
            if entry.fingerprint != fingerprint.digest:
                # Pinned to the current inputs: a later sync restores it rather than paying.
                entry = store.put(
                    self._bytes(store, entry, figure_id, version),
                    Meta(
                        fingerprint=fingerprint.digest,
                        figure=figure_id,
                        how=How.RESTORED,
                        task_id=entry.task_id,
                        model=entry.model,
                        resolution=entry.resolution,
                        changed=f"version {version} restored",
                        suffix=entry.suffix,
                    ),
                )
            self._put_in_place(paper, status, store, entry)
        return f"{figure_id}: version {version} is back in place, for 0 credits"

    def accept(self, figure_id: str) -> str:
        with self._one_at_a_time, run_lock(self.root):
            paper, status, store = self._figure(figure_id)
            target = paper.root / status.output
            digest = sha256_file(target)
            if digest is None:
                raise ActionFailed(f"{figure_id}: there is no image at {status.output} to accept")
            if status.state is State.FRESH:
                return f"{figure_id}: already fresh, nothing to accept"
            fingerprint = status.resolved.fingerprint
            entry = store.put(
                target, Meta(fingerprint=fingerprint.digest, figure=figure_id, how=How.ACCEPTED)
            )
            if entry.sha256 != digest:
                raise ActionFailed(
                    f"{figure_id}: {status.output} changed while it was being accepted; try again"
                )
            self._record(paper, status, entry)
        return f"{figure_id}: the image on disk is now its image for the current inputs"

    # -- the store, the output and the lock ---------------------------------------------

    def _figure(self, figure_id: str) -> tuple[Paper, FigureStatus, Store]:
        paper = self._paper()
        (status,) = paper.statuses(paper.resolve((figure_id,)), paper.read_lock())
        return paper, status, Store.at(paper.root)

    @staticmethod
    def _bytes(store: Store, entry: Entry, figure_id: str, version: int) -> bytes:
        data = store.read(entry)
        if data is None:
            raise ActionFailed(f"{figure_id}: the bytes of version {version} are no longer in the store")
        return data

    def _put_in_place(self, paper: Paper, status: FigureStatus, store: Store, entry: Entry) -> None:
        """Write ``entry``'s verified bytes to the figure's output and record them in the
        lock for its current inputs. A hand-edited output is stored first, never lost."""
        target = paper.root / status.output
        if status.state is State.MODIFIED and target.exists():
            # Filed under the request of the image it was edited from, when the lock knows it.
            generated = status.record.generated
            made_for = generated.fingerprint if generated else status.resolved.fingerprint.digest
            store.put(target, Meta(fingerprint=made_for, figure=status.id, how=How.HAND_EDIT))
        if sha256_file(target) != entry.sha256 and not store.get(entry, target):
            raise ActionFailed(f"{status.id}: that image is no longer in the store (missing or damaged)")
        self._record(paper, status, entry)

    @staticmethod
    def _record(paper: Paper, status: FigureStatus, entry: Entry) -> None:
        fingerprint = status.resolved.fingerprint
        generated = Generated(
            fingerprint=fingerprint.digest,
            parts=dict(fingerprint.parts),
            output=status.output,
            sha256=entry.sha256,
            generated_at=now(),
            placeholder=entry.how.provisional,
            task_id=entry.task_id,
            credits=0,  # putting a kept image in place costs nothing; its task is in the ledger
            model=entry.model,
            resolution=entry.resolution,
        )
        lockfile.write(paper.lock_path, paper.read_lock().with_generated(status.id, generated))
