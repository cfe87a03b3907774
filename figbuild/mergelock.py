"""A three-way merge of ``figures.lock``: what git's merge driver (``figbuild merge-lock``) does.

Pure: three locks in, the merged lock and the images it leaves out. Per figure, a
record changed on one side only takes that side's; one regenerated on both sides
takes the record of the image git leaves in the work tree (see :func:`merge`), and
the other side's image is named in :attr:`Merged.others`, for the caller to keep in
history. Pending tasks of both sides are kept (each was paid for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from figbuild.lockfile import Failure, Generated, Lock, Pending, Record

#: Which side an image came from.
OURS, THEIRS = "ours", "theirs"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Other:
    """An image one side recorded that the merged lock does not: it goes to history."""

    figure_id: str
    generated: Generated
    side: str  # OURS or THEIRS


@dataclass(frozen=True)
class Merged:
    lock: Lock
    others: tuple[Other, ...] = field(default=())


def merge(base: Lock, ours: Lock, theirs: Lock) -> Merged:
    """Merge ``ours`` and ``theirs``, which both descend from ``base``.

    A figure both sides regenerated (two different images at one output) is a binary
    conflict for git, which leaves *our* image in the work tree; so ours is recorded,
    unless our side left the image as the base had it (then git takes theirs). The
    image not recorded is returned in ``others``.
    """
    figures: dict[str, Record] = {}
    others: list[Other] = []
    for figure_id in sorted({*base.figures, *ours.figures, *theirs.figures}):
        b, o, t = base.record(figure_id), ours.record(figure_id), theirs.record(figure_id)
        if o == t or t == b:
            record = o
        elif o == b:
            record = t
        else:
            generated, other = _generated(b.generated, o.generated, t.generated)
            if other is not None:
                others.append(Other(figure_id, *other))
            record = Record(
                generated=generated,
                pending=tuple(sorted(_sets(b.pending, o.pending, t.pending), key=_submitted)),
                last_failure=_scalar(b.last_failure, o.last_failure, t.last_failure, _newer),
                left_behind=tuple(sorted(_sets(b.left_behind, o.left_behind, t.left_behind))),
            )
        if not (record.generated or record.pending or record.last_failure or record.left_behind):
            continue
        figures[figure_id] = record
    return Merged(Lock(figures), tuple(others))


def _generated(
    b: Generated | None, o: Generated | None, t: Generated | None
) -> tuple[Generated | None, tuple[Generated, str] | None]:
    """The merged image record, and the other side's image if it is left out."""
    if o == t or t == b:
        return o, None
    if o == b:
        return t, None
    if o is None or t is None:  # one side forgot the image, the other changed it: keep it
        return (o or t), None
    if o.sha256 == t.sha256 and o.output == t.output:
        return o, None  # one image, recorded twice (restored on both sides)
    # Both regenerated. Git leaves our file unless our side kept the base's bytes there.
    ours_untouched = b is not None and b.output == o.output == t.output and b.sha256 == o.sha256
    if ours_untouched:
        return t, (o, OURS)
    return o, (t, THEIRS)


def _sets(base: Iterable[_T], ours: Iterable[_T], theirs: Iterable[_T]) -> list[_T]:
    """A three-way merge of sets: what either side added, less what either side removed."""
    b, o, t = list(base), list(ours), list(theirs)
    removed = [x for x in b if x not in o or x not in t]
    merged: list[_T] = []
    for item in (*o, *t):
        if item not in removed and item not in merged:
            merged.append(item)
    return merged


def _scalar(b: _T | None, o: _T | None, t: _T | None, both: Callable[[_T, _T], _T]) -> _T | None:
    if o == t or t == b:
        return o
    if o == b:
        return t
    if o is None or t is None:
        return o or t
    return both(o, t)


def _newer(o: Failure, t: Failure) -> Failure:
    return t if t.failed_at > o.failed_at else o


def _submitted(pending: Pending) -> str:
    return pending.submitted_at
