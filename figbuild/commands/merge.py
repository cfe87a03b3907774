"""`figbuild merge-lock BASE OURS THEIRS`: git's merge driver for ``figures.lock``.

Git runs it (from the top of the work tree) with three temporary files, ``%O %A %B``;
the merged lock is written over OURS and the exit status says whether it merged (0)
or left a conflict (1). The image a figure regenerated on both sides loses to is put
in the paper's history, read from git's objects, so ``log``/``restore``/``pick``
offer it for 0 credits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild.commands import Env
from figbuild.errors import ExitCode

if TYPE_CHECKING:
    from figbuild.lockfile import Generated


def merge_lock(env: Env, base: Path, ours: Path, theirs: Path) -> int:
    """Merge the three locks into ``ours``; keep the image left out in history."""
    from figbuild import atomic, lockfile, vcs
    from figbuild.errors import LockFileError
    from figbuild.mergelock import OURS, merge

    texts = [_read(path) for path in (base, ours, theirs)]
    try:
        locks = [
            lockfile.loads(text, path) if text.strip() else lockfile.Lock()
            for text, path in zip(texts, (base, ours, theirs), strict=True)
        ]
    except LockFileError as exc:
        env.console.error(f"figbuild merge-lock: {exc.message}; left the conflict for you to resolve")
        return ExitCode.FAILED
    merged = merge(*locks)
    atomic.write_bytes(ours, lockfile.dumps(merged.lock).encode("utf-8"))
    if not merged.others:
        return ExitCode.OK
    top = vcs.toplevel(Path.cwd()) or Path.cwd()
    where = vcs.tracked_path_of(top, texts[1].encode("utf-8"), lockfile.LOCK_NAME)
    paper = top / Path(where).parent if where else Path.cwd()
    prefix = "" if not where or "/" not in where else where.rsplit("/", 1)[0] + "/"
    for other in merged.others:
        generated = other.generated
        if other.side == OURS:
            data = _ours(paper / generated.output, generated.sha256)
        else:
            data = _theirs(top, prefix + generated.output, generated.sha256)
        if data is None:
            env.console.error(
                f"figbuild merge-lock: {other.figure_id}: the {other.side} image ({generated.output}) "
                "was not found in git's objects; history cannot offer it"
            )
            continue
        _keep(paper, other.figure_id, generated, data, merged.lock.record(other.figure_id).generated)
        env.console.note(
            f"figbuild merge-lock: {other.figure_id}: kept the {other.side} image in history "
            f"(`figbuild log {other.figure_id}`)"
        )
    return ExitCode.OK


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _ours(path: Path, sha256: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


def _theirs(top: Path, path: str, sha256: str) -> bytes | None:
    """Their image, from the commit being merged (or any ref's tip) whose blob at ``path``
    has the bytes their lock records."""
    from figbuild import vcs

    for revision in vcs.revisions(top):
        data = vcs.blob(top, revision, path)
        if data is not None and hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


def _keep(paper: Path, figure_id: str, generated: Generated, data: bytes, kept: Generated | None) -> None:
    """Store the image the merge left out. Made for the same request as the image kept, it
    becomes one more candidate of that request (``figbuild pick ID K`` puts it in place)."""
    from dataclasses import replace

    from figbuild.history import History, meta_of
    from figbuild.store import How

    history = History(paper)
    meta = meta_of(figure_id, generated, changed="the other side of a git merge")
    if kept is not None and kept.fingerprint == generated.fingerprint and not meta.how.provisional:
        taken = history.kept(generated.fingerprint) | {kept.candidate or 1}
        number = next(n for n in range(1, len(taken) + 2) if n not in taken)
        meta = replace(meta, how=How.CANDIDATE, candidate=number)
    history.keep(data, meta)
