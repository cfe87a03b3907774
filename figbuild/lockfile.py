"""``figures.lock``: what each figure was generated from, and tasks still in flight.

The file is committed with the paper, so its text is stable: sorted keys, two-space
indent, a trailing newline, a format number checked on read. It is only ever
written whole and atomically, and concurrent runs on one paper serialise on a
file lock (:mod:`figbuild.statedir`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from figbuild import atomic
from figbuild.errors import LockFileError

LOCK_NAME = "figures.lock"
#: 2: ``how`` (and ``candidate``) replace v1's ``placeholder`` flag; failures are kept.
FORMAT = 2
#: Ways an image can be a figure's current one that only stand in for a real image.
PROVISIONAL = frozenset({"placeholder", "emulator"})


@dataclass(frozen=True)
class Generated:
    """A figure's current image, and the request it stands for.

    ``how`` says how it came to be (the history store's words: generated,
    candidate, restored, accepted, hand-edit, placeholder, emulator). A restored
    or accepted image is recorded under the inputs it was pinned to, so it is
    fresh until an input changes.
    """

    fingerprint: str
    parts: Mapping[str, str]
    output: str
    sha256: str
    generated_at: str
    how: str = "generated"
    task_id: str | None = None
    credits: int = 0
    model: str | None = None
    resolution: str | None = None
    candidate: int | None = None

    @property
    def provisional(self) -> bool:
        """Whether it only stands in for a real image (a real sync replaces it)."""
        return self.how in PROVISIONAL


@dataclass(frozen=True)
class Pending:
    """A task submitted (and paid for) but not yet collected.

    ``task_id`` is None from just before ``POST /generate`` is sent until its
    answer is recorded: a run killed in between leaves this mark, and the next
    run looks for the task on the server before it ever submits again.
    """

    task_id: str | None
    fingerprint: str
    parts: Mapping[str, str]
    output: str
    credits: int
    submitted_at: str
    candidate: int | None = None


@dataclass(frozen=True)
class Failure:
    """The last attempt at a figure failed: why, and what it cost. Cleared by the next attempt."""

    reason: str
    at: str
    task_id: str | None = None
    credits: int = 0


@dataclass(frozen=True)
class Record:
    generated: Generated | None = None
    pending: tuple[Pending, ...] = ()
    last_failure: Failure | None = None


@dataclass(frozen=True)
class Lock:
    figures: Mapping[str, Record] = field(default_factory=dict)

    def record(self, figure_id: str) -> Record:
        return self.figures.get(figure_id, Record())

    def with_generated(self, figure_id: str, generated: Generated, *, done: Pending | None = None) -> Lock:
        """Record ``generated`` for a figure, retiring the pending entry it came from."""
        record = self.record(figure_id)
        return self._with(figure_id, Record(generated, tuple(p for p in record.pending if p != done)))

    def with_failure(self, figure_id: str, failure: Failure | None) -> Lock:
        """Remember (or, with None, forget) the figure's last failed attempt."""
        return self._with(figure_id, replace(self.record(figure_id), last_failure=failure))

    def with_pending(self, figure_id: str, pending: Pending) -> Lock:
        record = self.record(figure_id)
        return self._with(figure_id, replace(record, pending=(*record.pending, pending)))

    def replace_pending(self, figure_id: str, old: Pending, new: Pending | None) -> Lock:
        """Swap one pending entry for another (or drop it, with ``new=None``)."""
        record = self.record(figure_id)
        kept = tuple(p for p in record.pending if p != old)
        return self._with(figure_id, replace(record, pending=kept if new is None else (*kept, new)))

    def without(self, figure_id: str) -> Lock:
        return self._with(figure_id, Record())

    def _with(self, figure_id: str, record: Record) -> Lock:
        figures = dict(self.figures)
        if record.generated is None and not record.pending and record.last_failure is None:
            figures.pop(figure_id, None)
        else:
            figures[figure_id] = record
        return Lock(figures)


def dumps(lock: Lock) -> str:
    """The lock's text: deterministic, so a no-op run leaves the file byte-identical."""
    figures: dict[str, Any] = {}
    for figure_id, record in lock.figures.items():
        entry: dict[str, Any] = {}
        if record.generated is not None:
            entry["generated"] = asdict(record.generated)
        if record.pending:
            entry["pending"] = [asdict(p) for p in sorted(record.pending, key=lambda p: p.submitted_at)]
        if record.last_failure is not None:
            entry["last_failure"] = asdict(record.last_failure)
        figures[figure_id] = entry
    document = {"figbuild_lock": FORMAT, "figures": figures}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def loads(text: str, path: Path) -> Lock:
    """Parse lock text; a corrupt or newer lock is a LockFileError naming ``path``."""
    try:
        document = json.loads(text)
        version = document["figbuild_lock"]
    except (ValueError, KeyError, TypeError):
        raise LockFileError(
            f"{path} is not a figbuild lock file (corrupt or hand-edited)",
            hint="restore it from version control, or delete it to treat every figure as new",
        ) from None
    if not isinstance(version, int) or version > FORMAT:
        raise LockFileError(
            f"{path} was written by a newer figbuild (lock format {version}; this one reads {FORMAT})",
            hint="upgrade figbuild: pip install -U ./figbuild from an updated clone of its repository",
        )
    try:
        figures = {
            str(figure_id): Record(
                generated=_generated(entry["generated"]) if "generated" in entry else None,
                pending=tuple(Pending(**p) for p in entry.get("pending", [])),
                last_failure=Failure(**entry["last_failure"]) if "last_failure" in entry else None,
            )
            for figure_id, entry in document["figures"].items()
        }
    except (TypeError, AttributeError, KeyError) as exc:
        raise LockFileError(
            f"{path} has an entry figbuild cannot read ({exc})",
            hint="restore it from version control",
        ) from None
    return Lock(figures)


def _generated(fields: dict[str, Any]) -> Generated:
    """A ``generated`` entry of either format: version 1 had ``placeholder: bool``."""
    if "placeholder" in fields:
        fields = dict(fields)
        fields["how"] = "placeholder" if fields.pop("placeholder") is True else "generated"
    return Generated(**fields)


def read(path: Path) -> Lock:
    """The lock at ``path``; an empty one when the file does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"cannot read {path}: {exc}") from None
    return loads(text, path)


def write(path: Path, lock: Lock) -> None:
    """Atomically replace the lock file, unless its text would not change."""
    text = dumps(lock)
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return
    atomic.write_bytes(path, text.encode("utf-8"))
