"""Before anything is paid: a paid image must have somewhere to go.

History must take the image each one replaces (and the new one), and the disks of
the outputs and of the store must have room for them. A sync that would pay and
then leave the task pending ("cannot write to the figure store") is refused first,
naming what to fix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from figbuild.errors import FileError
from figbuild.paper import Paper
from figbuild.plan import Plan
from figbuild.store import STORE_ENV, Store

#: Bytes a paid image may take, by resolution (a generous PNG): what must be free.
IMAGE_BYTES = {"1K": 4 << 20, "2K": 16 << 20, "4K": 48 << 20}


def check(paper: Paper, plan: Plan, store: Store) -> None:
    """Raise FileError, before anything is sent, when the planned images would have
    nowhere to go: an unwritable store, or too little room on a disk they go to."""
    problem = store.unwritable()
    if problem is not None:
        raise FileError(
            f"{problem}; nothing was sent",
            hint=f"free it or fix its permissions, or set {STORE_ENV} to a folder you can write",
        )
    needed: dict[int, tuple[Path, int]] = {}
    for status in plan.generate:
        size = IMAGE_BYTES.get(status.resolved.request.resolution, 16 << 20) * plan.count(status)
        # The output takes the image once; the store the image it replaces and the new one.
        for folder, share in ((paper.root / status.output, 1), (store.path, 2)):
            where = _existing(folder)
            place, total = needed.get(where.stat().st_dev, (where, 0))
            needed[where.stat().st_dev] = (place, total + size * share)
    for place, total in needed.values():
        free = shutil.disk_usage(place).free
        if free < total:
            raise FileError(
                f"only {free >> 20} MiB free on the disk of {place}, and the planned images may need "
                f"{total >> 20} MiB; nothing was sent",
                hint="free some space (`figbuild store gc` trims old versions), then sync again",
            )


def _existing(path: Path) -> Path:
    """``path`` or its nearest folder that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")
