"""The placeholder backend: draws a labelled image locally; no key, no network, no credits."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from figbuild.backends.base import Backend, Job, Ticket
from figbuild.report import Reporter
from figbuild.request import FREE, Terms


class PlaceholderBackend:
    """Its images only stand in for a figure: they never replace a real one."""

    provisional = True
    paid = False
    makes = "placeholder"
    terms: Terms = FREE

    def __init__(self) -> None:
        self.stop = threading.Event()

    def balance(self) -> int | None:
        return None

    def concurrency(self) -> int:
        return os.cpu_count() or 1

    def known(self, task_ids: Iterable[str]) -> None:
        pass

    def submit(self, job: Job) -> Ticket:
        from figbuild.timestamps import now

        return Ticket(job, task_id=None, credits=0, submitted_at=now())

    def find(self, job: Job, since: float) -> Ticket | None:
        return None

    def wait(self, ticket: Ticket) -> str:
        return "placeholder"

    def fetch(self, ticket: Ticket, location: str, out: BinaryIO) -> None:
        from figbuild.placeholder import placeholder_image

        request = ticket.job.request
        out.write(
            placeholder_image(
                ticket.job.figure_id, request.prompt, request.resolution, request.aspect_ratio, ticket.job.fmt
            )
        )


@contextlib.contextmanager
def open_session(
    reporter: Reporter, trace: Callable[[str], None] | None = None, *, fail_fast: bool = False
) -> Iterator[Backend]:
    yield PlaceholderBackend()
