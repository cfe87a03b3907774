"""Figure states (fresh, stale, missing, pending, modified, frozen, orphaned) and their reasons.

:func:`classify` is a pure function of what the manifest asks for, what the lock
recorded and the output file's digest; ``Paper.statuses`` is the I/O that feeds it.
"""

from __future__ import annotations

from enum import Enum
from pathlib import PurePosixPath

from figbuild.fingerprint import RULES_PART
from figbuild.fingerprint import reasons as changes
from figbuild.lockfile import Generated, Pending, Record
from figbuild.records import frozen
from figbuild.resolve import Resolved


class State(str, Enum):
    """A figure's state. What each state means for a sync and for CI is decided here, once."""

    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"
    PENDING = "pending"
    MODIFIED = "modified"
    FROZEN = "frozen"
    ORPHANED = "orphaned"
    ERROR = "error"  # its request cannot be made: a section renamed away, a missing file

    def __str__(self) -> str:
        return self.value

    @property
    def outdated(self) -> bool:
        """Stale or missing: a sync (re)generates it, and it costs credits."""
        return self in (State.STALE, State.MISSING)

    @property
    def passes_check(self) -> bool:
        """Fine for ``status --check``: fresh, frozen on purpose, or no longer in the manifest."""
        return self in (State.FRESH, State.FROZEN, State.ORPHANED)


@frozen
class FigureStatus:
    resolved: Resolved
    record: Record
    state: State
    reasons: tuple[str, ...]
    #: The output file's sha256 when it was classified (None: absent).
    output_sha256: str | None = None

    @property
    def id(self) -> str:
        return self.resolved.figure.id

    @property
    def output(self) -> str:
        return self.resolved.figure.output

    @property
    def fingerprint(self) -> str:
        return self.resolved.fingerprint.digest

    @property
    def adopt(self) -> bool:
        """Fresh, but the lock does not yet record this file as the figure's image (a moved
        output, or bytes made for these inputs under another figure id)."""
        generated = self.record.generated
        return self.state is State.FRESH and (
            generated is None
            or generated.sha256 != self.output_sha256
            or generated.output != self.output
            or generated.fingerprint != self.fingerprint
            # made under the previous content rules with the same text: recorded under these
            or generated.parts.get(RULES_PART) != self.resolved.fingerprint.parts.get(RULES_PART)
        )


@frozen
class OrphanStatus:
    """A lock record whose figure is no longer in the manifest: kept until ``figbuild prune``."""

    id: str
    record: Record
    state: State = State.ORPHANED
    reasons: tuple[str, ...] = ("not in figures.yaml; `figbuild prune` stores and removes it",)

    @property
    def output(self) -> str:
        generated = self.record.generated
        if generated is not None:
            return generated.output
        return self.record.pending[0].output if self.record.pending else "-"

    @property
    def fingerprint(self) -> str | None:
        return self.record.generated.fingerprint if self.record.generated else None


@frozen
class ErrorStatus:
    """A figure whose request cannot be made (its content cannot be read, its prompt does
    not render): shown with the reason, and the other figures keep their states."""

    id: str
    output: str
    record: Record
    reasons: tuple[str, ...]
    state: State = State.ERROR
    cost: int = 0

    @property
    def fingerprint(self) -> str | None:
        return self.record.generated.fingerprint if self.record.generated else None


def classify(
    resolved: Resolved,
    record: Record,
    output_sha256: str | None,
    recorded: frozenset[str] = frozenset(),
) -> FigureStatus:
    """The state of one figure; ``output_sha256`` is None when the output file is absent.

    ``recorded`` holds the sha256 of images known to be made for exactly the figure's
    current request (by this or another figure): an output with those bytes is the
    figure's image wherever it came from, and is adopted, not called modified.
    """
    figure, current = resolved.figure, resolved.fingerprint
    older = tuple(
        f"an older {describe(p)} is pending" for p in record.pending if p.fingerprint != current.digest
    )
    failure = (f"last attempt failed: {record.last_failure.reason}",) if record.last_failure else ()

    def status(state: State, *reasons: str) -> FigureStatus:
        return FigureStatus(resolved, record, state, reasons, output_sha256)

    generated = record.generated
    touched = None if output_sha256 is None else hand_edit(figure.output, generated, output_sha256)
    if output_sha256 in recorded:
        touched = None  # bytes made for exactly these inputs: the figure's image, wherever from
    for pending in record.pending:
        if pending.fingerprint == current.digest:
            if touched is not None:
                # A file a person saved after the run was interrupted wins over the
                # task: collecting it would overwrite their work unasked.
                return status(State.MODIFIED, touched, f"{describe(pending)} is pending, kept")
            return status(State.PENDING, submitted(pending))
    if output_sha256 is None:
        first = "never generated" if generated is None else "output file is gone"
        return status(State.MISSING, first, *older, *failure)
    if figure.frozen:
        return status(State.FROZEN, "frozen: true")
    if touched is not None:
        return status(State.MODIFIED, touched, *failure)
    if generated is None or generated.sha256 != output_sha256:
        # Not touched, yet not this figure's last image: the bytes recorded for these inputs.
        return status(State.FRESH, "the image recorded for these inputs", *older)
    # The digest decides (it is the exact request); the parts only say why it differs.
    diff: tuple[str, ...] = ()
    if not current.made_by(generated.fingerprint, generated.parts):
        diff = tuple(changes(generated.parts, current.parts)) or ("request format changed",)
    if generated.provisional:
        return status(State.STALE, _provisional(generated), *diff, *older, *failure)
    if diff:
        return status(State.STALE, *diff, *older, *failure)
    return status(State.FRESH, *older)


def _provisional(generated: Generated) -> str:
    return "emulator image" if generated.how == "emulator" else "placeholder"


def hand_edit(output: str, generated: Generated | None, output_sha256: str) -> str | None:
    """Why the file at ``output`` is not the one figbuild last wrote for the figure, or None
    when it is (wherever it was written: a moved output keeps its bytes)."""
    if generated is not None and generated.sha256 == output_sha256:
        return None
    if generated is None or not _same_path(generated.output, output):
        return "file not written by figbuild"
    if generated.sha256 != output_sha256:
        return "changed since figbuild wrote it"
    return None


def _same_path(a: str, b: str) -> bool:
    # Strings first: building paths for thousands of figures shows in a status.
    return a == b or PurePosixPath(a) == PurePosixPath(b)


def submitted(pending: Pending) -> str:
    """Why a figure is pending: its task, and when it was submitted."""
    return f"{describe(pending)} submitted {pending.submitted_at}"


def describe(pending: Pending) -> str:
    if pending.task_id is None:
        return "submission (unconfirmed; sync will look for it on the server)"
    return f"task {pending.task_id}"
