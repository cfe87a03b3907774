"""`figbuild sync`: the plan carried out, or (for build hooks) its best-effort form."""

from __future__ import annotations

from dataclasses import dataclass

from figbuild import fastpath
from figbuild.commands import BackendOptions, Env
from figbuild.errors import ExitCode


@dataclass(frozen=True)
class SyncOptions:
    """What `figbuild sync` was asked, besides the backend."""

    ids: tuple[str, ...] = ()
    dry_run: bool = False
    force: bool = False
    as_json: bool = False
    candidates: int | None = None
    best_effort: bool = False
    #: Then print what `figbuild deps` prints (the only output on stdout).
    deps: bool = False


def sync(env: Env, options: SyncOptions, backend: BackendOptions) -> int:
    """Bring the named (or all) figures up to date; with ``deps``, then list the files
    they are made from, so that a build hook starts figbuild once per pass."""
    if not options.deps:
        return _sync(env, options, backend)
    if options.as_json or options.dry_run:
        from figbuild.errors import UsageError

        raise UsageError(
            "--deps prints the dependencies on stdout; it cannot be combined with --json or --dry-run"
        )
    from figbuild.commands.paper import print_deps

    code = _sync(env, options, backend)
    print_deps(env)
    return code


def _sync(env: Env, options: SyncOptions, backend: BackendOptions) -> int:
    from figbuild import backends, engine
    from figbuild.output import ignored_lines, plan_lines, reporter_for, sync_json, sync_summary

    if options.best_effort and not options.dry_run:
        return _best_effort(env, options, backend)
    paper = env.paper()
    name = backend.backend_name()
    reporter = reporter_for(env.console)
    try:
        with backends.open_backend(name, reporter=reporter, trace=env.console.debug) as session:
            result = engine.sync(
                paper,
                session,
                reporter,
                ids=options.ids,
                force=options.force,
                dry_run=options.dry_run,
                max_credits=backend.max_credits,
                jobs=backend.jobs,
                candidates=options.candidates,
            )
    finally:
        reporter.close()
    for line in ignored_lines(paper.ignored_outputs(result.statuses)):
        env.console.note(line)
    if options.as_json:
        env.console.print(sync_json(result))
    elif options.dry_run:
        env.console.print("\n".join(plan_lines(result)))
    else:
        show = env.console.error if result.failed else env.console.note
        show("\n".join(sync_summary(result)))  # one write: 2,000 lines are 2,000 syscalls otherwise
    if result.plan.empty and not result.plan.skipped and not result.failed and result.refusal is None:
        # Nothing was done: the next identical sync may be answered by the fast path.
        fastpath.offer(paper.root, (paper.root / s.output for s in result.statuses), ExitCode.OK)
    return ExitCode.FAILED if result.failed or result.refusal else ExitCode.OK


def _best_effort(env: Env, options: SyncOptions, backend: BackendOptions) -> int:
    from functools import partial

    from figbuild import backends, besteffort
    from figbuild.output import best_effort_json, reporter_for

    reporter = reporter_for(env.console)
    name = backend.backend_name()
    session = partial(backends.open_backend, name, reporter=reporter, trace=env.console.debug, fail_fast=True)
    try:
        result = besteffort.sync(
            env.directory,
            session,
            reporter,
            ids=options.ids,
            force=options.force,
            max_credits=backend.max_credits,
            jobs=backend.jobs,
            search_parents=not env.explicit,
        )
    finally:
        reporter.close()
    for line in result.warnings:
        env.console.error(f"figbuild: warning: {line}")
    if options.as_json:
        env.console.print(best_effort_json(result))
    elif result.generated or result.placeholders:
        env.console.note(
            f"generated {len(result.generated)}, placeholders {len(result.placeholders)}, "
            f"skipped {len(result.warnings)}; {result.credits_spent} credits spent"
        )
    if result.root is not None and result.repeatable and not (result.generated or result.placeholders):
        # Nothing was done, and every warning would be printed again by the same run
        # (they follow from the files and the environment): the fast path may answer.
        fastpath.offer(result.root, result.outputs, ExitCode.OK)
    return ExitCode.OK
