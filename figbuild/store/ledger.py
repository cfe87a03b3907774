"""The credit ledger: what was spent, per figure, per month and in total."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from figbuild.records import frozen
from figbuild.store.model import Entry


@frozen
class Ledger:
    """Credits spent. ``by_month`` is keyed ``YYYY-MM`` (UTC); both maps are sorted.

    Only credits a real API charged are counted; ``pretend`` sums the credits the
    bundled emulator (or a placeholder run) only claimed, shown apart.
    """

    by_figure: Mapping[str, int]
    by_month: Mapping[str, int]
    total: int
    pretend: int = 0


def ledger(entries: Iterable[Entry]) -> Ledger:
    """Sum the credits of ``entries``, each remote task once.

    A task can be recorded more than once (the store's entry and the lock's record
    of the same image, or a restored copy that names the task it came from); it is
    counted once, with the most credits any of its records shows, for the figure and
    month of the first such record. Entries without a task count as they are. A task
    any of whose records is a stand-in (placeholder, emulator) charged nothing real:
    its credits are ``pretend``.
    """
    charged: list[Entry] = []
    by_task: dict[str, Entry] = {}
    stand_in_tasks: set[str] = set()
    for entry in entries:
        if entry.task_id is None:
            charged.append(entry)
            continue
        if entry.how.provisional:
            stand_in_tasks.add(entry.task_id)
        if entry.task_id not in by_task or entry.credits > by_task[entry.task_id].credits:
            by_task[entry.task_id] = entry
    by_figure: dict[str, int] = {}
    by_month: dict[str, int] = {}
    pretend = 0
    for entry in (*charged, *by_task.values()):
        if not entry.credits:
            continue
        if entry.how.provisional or entry.task_id in stand_in_tasks:
            pretend += entry.credits
            continue
        by_figure[entry.figure] = by_figure.get(entry.figure, 0) + entry.credits
        by_month[entry.when[:7]] = by_month.get(entry.when[:7], 0) + entry.credits
    return Ledger(
        dict(sorted(by_figure.items())), dict(sorted(by_month.items())), sum(by_figure.values()), pretend
    )
