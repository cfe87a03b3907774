"""Commands that read the paper: init, validate, status, show, diff, deps."""

from __future__ import annotations

from pathlib import Path

from figbuild import fastpath
from figbuild.commands import Env
from figbuild.errors import ExitCode


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
    if as_json:
        env.console.print(status_json(rows))
    else:
        env.console.print("\n".join(status_table(rows, verbose=env.console.verbosity > 0)))
    for line in ignored_lines(paper.ignored_outputs(statuses)):
        env.console.note(line)
    code = ExitCode.OK
    if check:
        behind = [s.id for s in statuses if not s.state.passes_check]
        if behind:
            env.console.error(f"not fresh: {', '.join(behind)}")
            code = ExitCode.FAILED
    fastpath.offer(paper.root, (paper.root / s.output for s in statuses), code)
    return code


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
    root = print_deps(env)
    # It only reads: the next identical run may be answered by the fast path.
    fastpath.offer(root, (), ExitCode.OK)
    return ExitCode.OK


def print_deps(env: Env) -> Path:
    """What `figbuild deps` prints, printed (also after `sync --deps`); the paper root."""
    from figbuild.deps import listing

    root, names = listing(env.directory, search_parents=not env.explicit)
    if names:
        env.console.print("\n".join(names))  # one write
    return root
