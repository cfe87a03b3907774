"""`figbuild sync`: the plan carried out, or (for build hooks) its best-effort form."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from figbuild import fastpath
from figbuild.commands import BackendOptions, Env
from figbuild.errors import ExitCode, FigbuildError, UsageError
from figbuild.records import frozen

if TYPE_CHECKING:
    from figbuild.paper import Paper


@frozen
class SyncOptions:
    """What `figbuild sync` was asked, besides the backend."""

    ids: tuple[str, ...] = ()
    dry_run: bool = False
    force: bool = False
    as_json: bool = False
    candidates: int | None = None
    best_effort: bool = False
    #: With ``best_effort``: after the sync, print what `figbuild deps` prints, on stdout
    #: (everything else goes to stderr), so a build hook runs one figbuild per pass.
    deps: bool = False


def sync(env: Env, options: SyncOptions, backend: BackendOptions) -> int:
    """Bring the named (or all) figures up to date."""
    from figbuild import backends, engine, github
    from figbuild.output import ignored_lines, plan_json, plan_lines, reporter_for, sync_json, sync_summary

    if options.deps and (not options.best_effort or options.dry_run or options.as_json):
        raise UsageError(
            "--deps is for build hooks: use it with --best-effort, without --dry-run or --json",
            hint="figbuild sync --best-effort --deps",
        )
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
    wrote = False if options.dry_run else _refresh_disclosure(env, paper, force=options.force)
    for line in ignored_lines(paper.ignored_outputs(result.statuses)):
        env.console.note(line)
    if options.as_json:
        env.console.print(plan_json(result) if options.dry_run else sync_json(result))
    elif options.dry_run:
        env.console.print("\n".join(plan_lines(result)))
    else:
        show = env.console.error if result.failed else env.console.note
        show("\n".join(sync_summary(result)))  # one write: 2,000 lines are 2,000 syscalls otherwise
    if github.active() and not options.dry_run:
        # The runner reads workflow commands on stderr too: stdout stays JSON with --json.
        annotate = env.console.error if options.as_json else env.console.print
        for annotation in github.sync_annotations(result, paper.manifest.path):
            annotate(str(annotation))
        github.append_summary(github.sync_summary(result))
        github.set_outputs(github.sync_outputs(result))
    nothing = result.plan.empty and not (result.plan.skipped or result.failed or result.refusal or wrote)
    if nothing and not github.active():
        # Nothing was done: the next identical sync may be answered by the fast path.
        fastpath.offer(paper.root, (paper.root / s.output for s in result.statuses), ExitCode.OK)
    return ExitCode.FAILED if result.failed or result.refusal else ExitCode.OK


def _refresh_disclosure(env: Env, paper: Paper, *, force: bool) -> bool:
    """Keep the paper's disclosure file current; whether it was written."""
    from figbuild import disclosure

    done = disclosure.refresh(paper.manifest, paper.lock_path, force=force)
    output = paper.manifest.disclosure.output if paper.manifest.disclosure else None
    if done is disclosure.Refreshed.WRITTEN:
        env.console.note(f"wrote {output} (the AI-usage statement)")
    elif done is disclosure.Refreshed.KEPT:
        env.console.error(
            f"warning: {output} was edited by hand, so it was kept; `figbuild sync --force` rewrites it "
            "(for your own wording: disclosure.template in figures.yaml)"
        )
    return done is disclosure.Refreshed.WRITTEN


def _best_effort(env: Env, options: SyncOptions, backend: BackendOptions) -> int:
    from functools import partial

    from figbuild import backends, besteffort, github
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
    summary = result.summary()
    if summary is not None:
        env.console.error(f"figbuild: warning: {summary}")
        if len(result.warnings) > 1:
            for line in result.warnings:
                env.console.debug(f"figbuild:   {line}")
    if options.as_json:
        env.console.print(best_effort_json(result))
    elif result.generated or result.placeholders:
        env.console.note(
            f"generated {len(result.generated)}, placeholders {len(result.placeholders)}, "
            f"skipped {len(result.warnings)}; {result.credits_spent} credits spent"
        )
    if result.disclosure is not None:
        env.console.note(f"wrote {result.disclosure} (the AI-usage statement)")
    if github.active():
        annotate = env.console.error if options.as_json else env.console.print
        for warning in result.warnings:
            annotate(str(github.Annotation("warning", warning, title="figbuild: skipped")))
        github.append_summary(github.best_effort_summary(result))
        github.set_outputs(
            {
                "credits-spent": str(result.credits_spent),
                "generated": " ".join(result.generated),
                "placeholders": " ".join(result.placeholders),
            }
        )
    nothing = not (result.generated or result.placeholders or result.disclosure)
    if result.root is not None and nothing and result.repeatable and not github.active():
        # Nothing was done, and every warning would be printed again by the same run
        # (they follow from the files and the environment): the fast path may answer.
        fastpath.offer(result.root, result.outputs, ExitCode.OK)
    if options.deps:
        _print_deps(env)
    return ExitCode.OK


def _print_deps(env: Env) -> None:
    """What `figbuild deps` prints, on stdout; nothing without a manifest (the hook then
    falls back to its own list) and never an error: the sync has said what is wrong."""
    from figbuild.commands.paper import print_deps

    with contextlib.suppress(FigbuildError):
        print_deps(env)
