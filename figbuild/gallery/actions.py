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

from figbuild import engine, history
from figbuild.backends.base import Backend
from figbuild.errors import ExitCode, FigbuildError
from figbuild.paper import Paper
from figbuild.report import Reporter

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

    # Pick, restore and accept are the CLI's own core functions (figbuild.history).

    def pick(self, figure_id: str, k: int) -> str:
        with self._one_at_a_time:
            history.pick(self._paper(), figure_id, k)
        return f"{figure_id}: candidate {k} is in place, for 0 credits"

    def restore(self, figure_id: str, version: int) -> str:
        with self._one_at_a_time:
            history.restore(self._paper(), figure_id, version)
        return f"{figure_id}: version {version} is back in place, for 0 credits"

    def accept(self, figure_id: str) -> str:
        with self._one_at_a_time:
            history.accept(self._paper(), [figure_id])
        return f"{figure_id}: the image on disk is now its image for the current inputs"
