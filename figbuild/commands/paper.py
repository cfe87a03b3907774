"""Commands that read the paper: init, validate, status, show, diff, deps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from figbuild import fastpath
from figbuild.commands import Env
from figbuild.errors import ExitCode

if TYPE_CHECKING:
    from figbuild.disclosure.managed import DisclosureStatus
    from figbuild.lockfile import Lock
    from figbuild.manifest import Manifest
    from figbuild.state import FigureStatus


def init(env: Env) -> int:
    """Write a commented starter figures.yaml (never overwrites one)."""
    from figbuild.starter import write_starter

    path = write_starter(env.directory)
    env.console.note(f"wrote {path}; edit it, then run `figbuild status`")
    return ExitCode.OK


def validate(env: Env, *, schema_path: bool) -> int:
    """Check the manifest and its content sources; send nothing."""
    from figbuild.manifest import SCHEMA_PATH

    if schema_path:
        env.console.print(str(SCHEMA_PATH))
        return ExitCode.OK
    from figbuild.resolve import warnings

    paper = env.paper()
    resolved = paper.resolve()
    for warning in warnings(resolved):
        env.console.error(f"warning: {warning}")
    env.console.note(f"{paper.manifest.path}: {len(resolved)} figures, all valid")
    return ExitCode.OK


def status(env: Env, ids: tuple[str, ...], *, as_json: bool, check: bool) -> int:
    """Show each figure's state and, for stale ones, why."""
    from figbuild.output import StatusRow, ignored_lines, status_json, status_table

    paper = env.paper()
    lock = paper.read_lock()
    statuses = paper.statuses(paper.resolve(ids), lock)
    rows: list[StatusRow] = [*statuses, *([] if ids else paper.orphans(lock))]
    statement = None if ids else _disclosure_row(paper.manifest, lock, statuses)
    if as_json:
        env.console.print(status_json(rows, [statement.as_json()] if statement else []))
    else:
        lines = status_table(rows, verbose=env.console.verbosity > 0)
        if statement is not None:  # above the totals, which count figures
            lines.insert(-1, statement.line(max((len(row.id) for row in rows), default=0)))
        env.console.print("\n".join(lines))
    for line in ignored_lines(paper.ignored_outputs(statuses)):
        env.console.note(line)
    code = ExitCode.OK
    if check:
        behind = [s.id for s in statuses if not s.state.passes_check]
        if statement is not None and statement.reasons:
            behind.append(f"{statement.output} ({statement.state.value})")
        if behind:
            env.console.error(f"not fresh: {', '.join(behind)}")
            code = ExitCode.FAILED
    fastpath.offer(paper.root, (paper.root / s.output for s in statuses), code)
    return code


def _disclosure_row(manifest: Manifest, lock: Lock, statuses: list[FigureStatus]) -> DisclosureStatus | None:
    """The disclosure file's row, when the manifest names one (read from the lock and the
    file alone: status stays as fast as it was)."""
    if manifest.disclosure is None or manifest.disclosure.output is None:
        return None
    from figbuild.disclosure.managed import status as disclosure_status

    return disclosure_status(manifest, lock, {s.id: s.output_sha256 for s in statuses})


def show(env: Env, figure_id: str, *, as_json: bool) -> int:
    """Print exactly what would be sent for a figure."""
    from figbuild import show as shows

    shown = shows.show(env.paper(), figure_id)
    for line in shows.show_json(shown) if as_json else shows.show_lines(shown):
        env.console.print(line)
    return ExitCode.OK


def diff(env: Env, figure_id: str) -> int:
    """Show what changed in a figure's request since its image was made."""
    from figbuild import show as shows

    lines = shows.diff(env.paper(), figure_id)
    for line in lines:
        env.console.print(line)
    if not lines:
        env.console.note(f"{figure_id}: no change since its image was made")
    return ExitCode.OK


def deps(env: Env) -> int:
    """Print the files the figures are made from, one per line."""
    from figbuild.deps import dependencies

    for name in dependencies(env.directory, search_parents=not env.explicit):
        env.console.print(name)
    return ExitCode.OK
