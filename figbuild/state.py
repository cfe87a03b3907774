"""Figure states (fresh, stale, missing, pending, modified, frozen) and their reasons.

:func:`classify` is a pure function of what the manifest asks for, what the lock
recorded and the output file's digest; :func:`observe` is the I/O that feeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from figbuild.fingerprint import reasons as changes
from figbuild.lockfile import Pending, Record
from figbuild.resolve import Resolved


class State(str, Enum):
    """A figure's state. What each state means for a sync and for CI is decided here, once."""

    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"
    PENDING = "pending"
    MODIFIED = "modified"
    FROZEN = "frozen"

    def __str__(self) -> str:
        return self.value

    @property
    def outdated(self) -> bool:
        """Stale or missing: a sync (re)generates it, and it costs credits."""
        return self in (State.STALE, State.MISSING)

    @property
    def passes_check(self) -> bool:
        """Fine for ``status --check``: fresh, or frozen on purpose."""
        return self in (State.FRESH, State.FROZEN)


@dataclass(frozen=True)
class FigureStatus:
    resolved: Resolved
    record: Record
    state: State
    reasons: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.resolved.figure.id

    @property
    def output(self) -> str:
        return self.resolved.figure.output

    @property
    def cost(self) -> int:
        """Credits a sync would spend on this figure (0 when it has nothing to do)."""
        return self.resolved.cost if self.state.outdated else 0


def classify(resolved: Resolved, record: Record, output_sha256: str | None) -> FigureStatus:
    """The state of one figure; ``output_sha256`` is None when the output file is absent."""
    figure, current = resolved.figure, resolved.fingerprint
    older = tuple(
        f"an older {describe(p)} is pending" for p in record.pending if p.fingerprint != current.digest
    )

    def status(state: State, *reasons: str) -> FigureStatus:
        return FigureStatus(resolved, record, state, reasons)

    for pending in record.pending:
        if pending.fingerprint == current.digest:
            return status(State.PENDING, f"{describe(pending)} submitted {pending.submitted_at}")
    generated = record.generated
    if output_sha256 is None:
        first = "never generated" if generated is None else "output file is gone"
        return status(State.MISSING, first, *older)
    if figure.frozen:
        return status(State.FROZEN, "frozen: true")
    if generated is None or generated.output != figure.output:
        return status(State.MODIFIED, "file not written by figbuild")
    if generated.sha256 != output_sha256:
        return status(State.MODIFIED, "changed since figbuild wrote it")
    diff = tuple(changes(generated.parts, current.parts))
    if generated.fingerprint != current.digest and not diff:
        diff = ("request format changed",)
    if generated.placeholder:
        kind = "emulator image" if generated.provisional == "emulator" else "placeholder"
        return status(State.STALE, kind, *diff, *older)
    if diff:
        return status(State.STALE, *diff, *older)
    return status(State.FRESH, *older)


def describe(pending: Pending) -> str:
    if pending.task_id is None:
        return "submission (unconfirmed; sync will look for it on the server)"
    return f"task {pending.task_id}"
