"""How the core tells the outside world what it is doing, without printing.

The CLI implements :class:`Reporter` for a terminal; tests record the events.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None:
        """A line of general progress."""

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        """Something happened to one figure. ``event`` is one of ``generating``,
        ``submitted`` (``credits`` were spent), ``resuming``, ``checked`` (work in
        flight) or ``written``, ``restored`` (from history), ``recorded`` (the image was
        already there), ``kept`` (a candidate, in history), ``failed``, ``skipped``
        (done with it)."""


def announce_plan(reporter: Reporter, figures: int, credits: int) -> None:
    """Tell ``reporter`` how much work a run has begun: ``figures`` to finish, at most
    ``credits`` to spend. Optional (a reporter without ``planned`` ignores it): only a
    live display needs it, for "k of n done" and its ETA."""
    planned = getattr(reporter, "planned", None)
    if planned is not None:
        planned(figures, credits)


#: Events after which figbuild is done with a figure for this run.
FINAL_EVENTS = frozenset({"written", "restored", "recorded", "kept", "failed", "skipped"})


class NullReporter:
    def info(self, message: str) -> None:
        pass

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        pass
