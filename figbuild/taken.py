"""Every remote task this paper's runs have taken, so that none is ever taken twice.

The lock records the task behind each figure's current image and its pending
tasks; when a newer image replaces a figure's record, its task leaves the lock.
Reconciliation must still never hand that task to another figure whose request
looks the same on the server, so every task id is also appended here, in the
paper's private state directory, when a run takes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from figbuild.statedir import state_dir

NAME = "taken-tasks"


def read(root: Path) -> set[str]:
    """The task ids recorded for the paper at ``root`` (none when there is no log)."""
    try:
        text = (root / ".figbuild" / NAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def add(root: Path, task_ids: Iterable[str]) -> None:
    """Append ``task_ids`` durably (appends of whole lines: safe across runs)."""
    lines = "".join(f"{task_id}\n" for task_id in task_ids if "\n" not in task_id)
    if not lines:
        return
    path = state_dir(root) / NAME
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())
