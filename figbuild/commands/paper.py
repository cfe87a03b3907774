"""Commands that read the paper: init, validate, status, show, diff, deps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from figbuild import fastpath
from figbuild.commands import Env
from figbuild.errors import ExitCode, ManifestError

if TYPE_CHECKING:
    from figbuild.disclosure.managed import DisclosureStatus
    from figbuild.lockfile import Lock
    from figbuild.manifest import Manifest
    from figbuild.state import FigureStatus


def init(env: Env, *, with_git: bool = False) -> int:
    """Write a commented starter figures.yaml (never overwrites one); with ``with_git``,
    also install the merge driver for figures.lock (a starter already there is kept)."""
    from figbuild.manifest import MANIFEST_NAME
    from figbuild.starter import write_starter

    if not with_git or not (env.directory / MANIFEST_NAME).exists():
        path = write_starter(env.directory)
        env.console.note(f"wrote {path}; edit it, then run `figbuild status`")
    if with_git:
        from figbuild.starter import install_git

        for line in install_git(env.directory):
            env.console.note(line)
    return ExitCode.OK


def validate(env: Env, *, schema_path: bool, fmt: str | None = None) -> int:
    """Check the manifest and its content sources; send nothing.

    ``fmt``: ``text`` (problems raise, as every command's do), ``json`` (every problem
    and warning as an object), ``github`` (annotations on their files and lines); by
    default ``github`` in a GitHub Actions job, else ``text``.
    """
    from figbuild import github
    from figbuild.manifest import SCHEMA_PATH

    if schema_path:
        env.console.print(str(SCHEMA_PATH))
        return ExitCode.OK
    from figbuild.errors import ManifestError, Problem
    from figbuild.resolve import warning_problems

    fmt = github.choose_format(fmt)
    problems: tuple[Problem, ...] = ()
    warnings: list[Problem] = []
    count = 0
    try:
        paper = env.paper()
        resolved = paper.resolve()
        warnings = warning_problems(resolved, paper.manifest.path.name)
        count = len(resolved)
    except ManifestError as exc:
        if fmt == "text":
            raise
        problems = exc.problems
    manifest = env.manifest_path()
    if fmt == "json":
        from figbuild.output import validate_json

        env.console.print(validate_json(str(manifest), count, problems, warnings))
    else:
        for warning in warnings:
            env.console.error(f"warning: figure '{warning.figure}': {warning.message}")
        if fmt == "github":
            annotations = [
                *github.problem_annotations(problems, manifest.parent),
                *github.problem_annotations(warnings, manifest.parent, level="warning"),
            ]
            for annotation in annotations:
                env.console.print(str(annotation))
            github.set_outputs({"valid": "false" if problems else "true", "problems": str(len(problems))})
    if problems:
        if fmt != "json":
            env.console.error(f"figbuild: error: {ManifestError(problems)}")
        return ExitCode.USAGE
    env.console.note(f"{manifest}: {count} figures, all valid")
    return ExitCode.OK


def status(
    env: Env, ids: tuple[str, ...], *, as_json: bool = False, check: bool, fmt: str | None = None
) -> int:
    """Show each figure's state and, for stale ones, why.

    ``fmt`` as for :func:`validate`; ``github`` is the text table plus an annotation on
    every figure ``--check`` refuses, the table in the step summary, and step outputs.
    """
    from figbuild import github
    from figbuild.history import foresee, left_behind
    from figbuild.output import StatusRow, ignored_lines, status_json, status_table

    fmt = "json" if as_json else github.choose_format(fmt)
    paper = env.paper()
    lock = paper.read_lock()
    surveyed, errors, problems = paper.survey(ids, lock)
    statuses, plan = foresee(paper, lock, surveyed)
    order = {figure.id: index for index, figure in enumerate(paper.manifest.figures)}
    rows: list[StatusRow] = sorted([*statuses, *errors], key=lambda row: order[row.id])
    rows += [] if ids else paper.orphans(lock)
    left = left_behind(paper, lock)
    statement = None if ids else _disclosure_row(paper.manifest, lock, statuses)
    if fmt == "json":
        env.console.print(status_json(rows, plan, left, [statement.as_json()] if statement else []))
    else:
        lines = status_table(rows, env.console.verbosity > 0, plan, left)
        if statement is not None:  # above the totals, which count figures
            lines.insert(-1, statement.line(max((len(row.id) for row in rows), default=0)))
        env.console.print("\n".join(lines))
    if fmt == "github":
        # --check refuses them (errors); plain status only points them out (warnings).
        annotations = github.status_annotations(
            rows, paper.manifest.path, level="error" if check else "warning"
        )
        if annotations:
            env.console.print("\n".join(str(annotation) for annotation in annotations))
        github.append_summary(github.status_summary(rows, plan))
        github.set_outputs(github.status_outputs(rows, plan))
    for line in ignored_lines(paper.ignored_outputs(statuses)):
        env.console.note(line)
    if problems:  # after the rows: the other figures' states are shown all the same
        raise ManifestError(problems)
    code = ExitCode.OK
    if check:
        behind = [s.id for s in statuses if not s.state.passes_check]
        if statement is not None and statement.reasons:
            behind.append(f"{statement.output} ({statement.state.value})")
        if behind:
            env.console.error(f"not fresh: {', '.join(behind)}")
            code = ExitCode.FAILED
    if fmt != "github":
        outputs = [paper.root / s.output for s in statuses]
        outputs.extend(paper.root / path for paths in left.values() for path in paths)
        fastpath.offer(paper.root, outputs, code)
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
