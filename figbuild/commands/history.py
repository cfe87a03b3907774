"""The history commands: log, restore, pick, accept, prune, store gc."""

from __future__ import annotations

from figbuild.commands import Env
from figbuild.errors import ExitCode


def log(env: Env, ids: tuple[str, ...], *, as_json: bool) -> int:
    """List each figure's versions, newest first, and the credit ledger."""
    from figbuild import history
    from figbuild.output import log_json, log_lines

    result = history.log(env.paper(), ids)
    for line in log_json(result) if as_json else log_lines(result):
        env.console.print(line)
    return ExitCode.OK


def restore(env: Env, figure_id: str, version: int) -> int:
    """Put an earlier version of a figure back, for 0 credits."""
    from figbuild import history

    chosen = history.restore(env.paper(), figure_id, version)
    env.console.note(
        f"{figure_id}: version {version} ({chosen.entry.how.value}, {chosen.entry.when}) is back"
    )
    return ExitCode.OK


def pick(env: Env, figure_id: str, candidate: int) -> int:
    """Put candidate K of a figure's current request in place, for 0 credits."""
    from figbuild import history

    history.pick(env.paper(), figure_id, candidate)
    env.console.note(f"{figure_id}: candidate {candidate} is in place")
    return ExitCode.OK


def accept(env: Env, ids: tuple[str, ...]) -> int:
    """Take the image on disk as each figure's image for its current inputs."""
    from figbuild import history

    for figure_id in history.accept(env.paper(), ids):
        env.console.note(f"{figure_id}: accepted the image on disk; fresh until an input changes")
    return ExitCode.OK


def prune(env: Env, *, dry_run: bool) -> int:
    """Store, then remove, the outputs and records of figures no longer in the manifest."""
    from figbuild import history

    orphans, left = history.prune(env.paper(), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed (kept in history)"
    for orphan in orphans:
        env.console.note(f"{orphan.id}: {verb} {orphan.output} and its record")
    for path in left:
        env.console.note(f"left behind: {verb} {path}")
    if not orphans and not left:
        env.console.note("nothing to prune")
    return ExitCode.OK


def store_gc(env: Env, keep: int, *, dry_run: bool) -> int:
    """Trim old versions beyond the newest N per figure (never a current image)."""
    from figbuild import history

    result = history.gc(env.paper(), keep, dry_run=dry_run)
    verb = "would trim" if dry_run else "trimmed"
    env.console.note(f"{verb} {len(result.trimmed)} versions, freeing {result.freed_bytes:,} bytes")
    return ExitCode.OK
