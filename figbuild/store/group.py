"""Group commit: writes that many threads ask for at once, done together.

Each caller's item is queued; whoever gets the commit lock first commits everything
queued by then in one go (one lock, one index segment, one fsync of it), and every
caller returns once its own item is committed, with its own result or error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from figbuild.records import mutable

T = TypeVar("T")
R = TypeVar("R")


@mutable
class _Slot(Generic[T, R]):
    item: T
    result: R | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit(Generic[T, R]):
    """``commit(items)`` returns one result per item, or an exception for an item it
    refused; an exception it raises fails every item of that batch."""

    def __init__(self, commit: Callable[[list[T]], list[R | Exception]]) -> None:
        self._commit = commit
        self._queue: list[_Slot[T, R]] = []
        self._queued = threading.Lock()
        self._committing = threading.Lock()

    def submit(self, item: T) -> R:
        """Commit ``item`` (with whatever else is queued); its result once it is durable."""
        slot: _Slot[T, R] = _Slot(item)
        with self._queued:
            self._queue.append(slot)
        with self._committing:
            if not slot.done:
                with self._queued:
                    batch, self._queue = self._queue, []
                try:
                    outcomes = self._commit([queued.item for queued in batch])
                    for queued, outcome in zip(batch, outcomes, strict=True):
                        if isinstance(outcome, Exception):
                            queued.error = outcome
                        else:
                            queued.result = outcome
                except BaseException as exc:
                    for queued in batch:
                        queued.error = exc
                    raise
                finally:
                    for queued in batch:
                        queued.done = True
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result
