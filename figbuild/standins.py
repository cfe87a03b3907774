"""What an image is: a real one or a stand-in, the figure's own, the other side's of a merge.

:func:`settle` is the one rule for stand-ins (placeholder and emulator images): it
decides how an image put in place is recorded, wherever that happens (restore, pick,
accept, adopt, the gallery's buttons), so that a stand-in is never recorded fresh.
:func:`recognised` tells an output figbuild made from a hand edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path, PurePosixPath

from figbuild import images, lockfile
from figbuild.errors import FigbuildError
from figbuild.lockfile import Generated
from figbuild.state import FigureStatus, State, submitted
from figbuild.store import Entry, How

#: Ways an image is made that only a real API paid for.
PAID = (How.GENERATED, How.CANDIDATE)


def stand_ins(entries: Iterable[Entry]) -> frozenset[str]:
    """The sha256 of every image that only stands in for a real one: made by a
    placeholder run or the emulator (however often restored, picked or accepted since),
    and never by a real API."""
    provisional: set[str] = set()
    real: set[str] = set()
    for entry in entries:
        if entry.how.provisional:
            provisional.add(entry.sha256)
        elif entry.how in PAID:
            real.add(entry.sha256)
    return frozenset(provisional - real)


def settle(how: How, sha256: str, known: Iterable[Entry] = (), recorded: Generated | None = None) -> How:
    """THE rule for an image put in place (restored, picked, accepted, adopted, pressed in
    the gallery): a stand-in stays a stand-in. ``how`` is what putting it in place would
    make it; the result is the stand-in's own ``how`` (placeholder, emulator) when the bytes
    are only known as one — from ``known`` store entries or the lock's ``recorded`` image —
    so that a real sync still replaces it and ``status --check`` fails on it."""
    known = list(known)
    if sha256 in stand_ins(known):
        return next(e.how for e in known if e.sha256 == sha256 and e.how.provisional)
    if sha256 in {e.sha256 for e in known if e.how in PAID}:
        return how
    if recorded is not None and recorded.sha256 == sha256 and recorded.provisional:
        return How.of(recorded.how)
    return how


def fits_format(suffix: str, output: str) -> bool:
    """Whether an image stored as ``suffix`` can be put at ``output``: as it is, or
    converted as a fresh download is (a raster to any format; a PDF only to a PDF)."""
    have = images.FORMATS.get(suffix.lower())
    want = images.FORMATS.get(PurePosixPath(output).suffix.lower())
    return have == want or (have is not None and have != "PDF")


def other_side(root: Path) -> list[Entry]:
    """The images the lock of the other side of a git merge records (a merge in progress,
    or the one HEAD is), as entries ``recognise`` can match: none outside a merge."""
    from figbuild import vcs

    top = vcs.toplevel(root)
    if top is None:
        return []
    try:
        relative = (root.resolve() / lockfile.LOCK_NAME).relative_to(top.resolve()).as_posix()
    except ValueError:
        return []
    found: list[Entry] = []
    for revision in ("MERGE_HEAD", "HEAD^2"):
        data = vcs.blob(top, revision, relative)
        if data is None:
            continue
        try:
            other = lockfile.loads(data.decode("utf-8"), root / lockfile.LOCK_NAME)
        except (UnicodeDecodeError, FigbuildError):
            continue
        for figure_id, record in other.figures.items():
            g = record.generated
            if g is not None and not g.provisional:
                found.append(
                    Entry(
                        f"git:{revision}",
                        g.fingerprint,
                        figure_id,
                        "",
                        g.sha256,
                        "",
                        0,
                        How.of(g.how),
                        g.generated_at,
                    )
                )
    return found


def recognised(status: FigureStatus, made: list[Entry]) -> FigureStatus:
    if status.state is not State.MODIFIED or not made:
        return status
    # Its own image (of any inputs), or one made for exactly its request: not another
    # figure's image copied over it, which is a hand edit.
    mine = [e for e in made if e.figure == status.id or e.fingerprint == status.fingerprint]
    if not mine:
        return status
    for pending in status.record.pending:
        if pending.fingerprint == status.fingerprint:
            # An image figbuild put in place before the task was paid for (its record lost
            # with a killed run): the task is collected over it, as over any image of ours.
            return replace(status, state=State.PENDING, reasons=(submitted(pending),))
    if any(e.fingerprint == status.fingerprint for e in mine):
        return replace(status, state=State.FRESH, reasons=("the image made for these inputs (in history)",))
    entry = mine[0]
    why = f"made for other inputs ({entry.how.value} {entry.when}, kept in history)"
    return replace(status, state=State.STALE, reasons=(why,))
