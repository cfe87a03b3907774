"""How the engine gets an image for a request: the one interface every backend implements.

The engine drives any :class:`Backend` the same way (submit, wait, fetch); the
remote API (also used against the emulator) and the local placeholder painter
differ only behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from figbuild.request import Request, Terms


@dataclass(frozen=True)
class Job:
    """One figure to produce.

    ``parts`` are the fingerprint parts of the request the job was submitted for
    (for a resumed task, maybe an older one than ``request``): they identify its
    task on the server by type, model, resolution and prompt digest.
    """

    figure_id: str
    request: Request
    fmt: str  # Pillow format of the output file
    parts: Mapping[str, str]


@dataclass(frozen=True)
class Ticket:
    """A submitted job. ``task_id`` is set when a remote task exists (and was paid for)."""

    job: Job
    task_id: str | None
    credits: int
    submitted_at: str


class Backend(Protocol):
    #: True when what it draws only stands in for a figure (never replaces a real one).
    provisional: bool
    #: True when ``submit`` spends credits.
    paid: bool
    #: How its images are recorded: ``generated``, or ``placeholder`` / ``emulator`` for
    #: images that only stand in for real ones (then ``provisional`` is True).
    makes: str
    #: What a request costs here, and the limits it must keep.
    terms: Terms
    #: Set by the engine on Ctrl-C: stop submitting and waiting.
    stop: threading.Event

    def balance(self) -> int | None:
        """Credits left, or None when nothing is spent."""

    def concurrency(self) -> int:
        """How many figures it makes sense to have in flight at once."""

    def known(self, task_ids: Iterable[str]) -> None:
        """Tasks the lock already accounts for: never taken for a new submission's."""

    def submit(self, job: Job) -> Ticket:
        """Start producing ``job``; raises ApiError (subclasses) when refused."""

    def find(self, job: Job, since: float) -> Ticket | None:
        """The task a submission of ``job`` made at ``since`` (epoch seconds) may have
        created without our hearing of it, or None."""

    def wait(self, ticket: Ticket) -> str:
        """Block until the ticket is done; return what ``fetch`` needs (e.g. a URL).

        Raises FigureFailed when the task failed."""

    def fetch(self, ticket: Ticket, location: str, out: BinaryIO) -> None:
        """Write the finished image's bytes to ``out``."""


class FigureFailed(Exception):
    """One figure could not be produced; the message is the reason shown to the user."""


class TaskNotFound(FigureFailed):
    """The task being waited on does not exist (any more) for this key."""
