"""How the core tells the outside world what it is doing, without printing.

The CLI implements :class:`Reporter` for a terminal; tests record the events.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None:
        """A line of general progress."""

    def figure(self, figure_id: str, event: str, detail: str = "") -> None:
        """Something happened to one figure: ``event`` is a short verb such as
        ``submitted``, ``waiting``, ``written``, ``failed``, ``skipped``."""


class NullReporter:
    def info(self, message: str) -> None:
        pass

    def figure(self, figure_id: str, event: str, detail: str = "") -> None:
        pass
