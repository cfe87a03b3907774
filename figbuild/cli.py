"""The command line: parse, call one core function, print. Nothing else lives here."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from figbuild import __version__, fastpath
from figbuild.errors import ExitCode, FigbuildError, ManifestError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from figbuild.output import Console
    from figbuild.paper import Paper


@dataclass(frozen=True)
class Env:
    """What every command needs: the paper directory and where to print.

    Without ``-C``, the paper is the nearest directory from here upwards that has a
    manifest, as git finds its repository; with ``-C DIR``, it is DIR.
    """

    directory: Path
    console: Console
    explicit: bool = False

    def paper(self) -> Paper:
        from figbuild.paper import Paper

        return Paper.open(self.directory, search_parents=not self.explicit)

    def paper_root(self) -> Path:
        from figbuild.manifest import find

        return find(self.directory, search_parents=not self.explicit).parent


pass_env = click.make_pass_decorator(Env)
_F = TypeVar("_F", bound=Callable[..., Any])

#: Global flags that may also follow the command name (`figbuild status -q`), as in git.
_GLOBAL_FLAG = re.compile(r"-[vq]+|--verbose|--quiet|-C.+")


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """``args`` with ``-C DIR``, ``-v`` and ``-q`` given after the command name moved
    before it, so that they work in either place. Nothing after ``--`` moves."""
    args = list(args)
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        index += 2 if args[index] == "-C" else 1
    if index >= len(args):
        return args
    moved: list[str] = []
    kept: list[str] = []
    rest = iter(args[index + 1 :])
    for arg in rest:
        if arg == "--":
            kept.extend([arg, *rest])
        elif arg == "-C":
            moved.extend([arg, next(rest, "")])
        elif _GLOBAL_FLAG.fullmatch(arg):
            moved.append(arg)
        else:
            kept.append(arg)
    return [*args[:index], *moved, args[index], *kept]


class _Group(click.Group):
    """The root group: also the one place where exceptions become exit codes."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        from figbuild.backends import redact
        from figbuild.output import Console

        try:
            # Always non-standalone: exceptions are turned into exit codes below, and
            # nowhere else, whether run as a script or through click's CliRunner.
            code = super().main(args, prog_name or "figbuild", complete_var, False, **extra)
        except (KeyboardInterrupt, click.exceptions.Abort):
            Console().error("figbuild: interrupted; run the same command again to resume")
            code = ExitCode.INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            code = ExitCode.USAGE
        except FigbuildError as exc:
            Console().error(f"figbuild: error: {redact(str(exc))}")
            code = exc.exit_code
        except BrokenPipeError:
            code = ExitCode.FAILED
        sys.exit(int(code or 0))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="figbuild")
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run as if started in DIR (the directory of figures.yaml). Without it, figures.yaml "
    "is looked for here and then in the directories above.",
)
@click.option("-v", "--verbose", count=True, help="Say more (never the API key).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested output.")
@click.pass_context
def cli(ctx: click.Context, directory: Path | None, verbose: int, quiet: bool) -> None:
    """figbuild: a paper's generated figures as a build artifact.

    Reads figures.yaml, works out which figures are out of date, and generates
    them through the Paper Banana API into the paper's figures directory.
    """
    from figbuild.output import Console

    try:
        usable = directory is None or directory.is_dir()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {directory}: {exc.strerror}", param_hint="-C") from None
    if not usable:
        raise click.BadParameter(f"{directory} is not a directory", param_hint="-C")
    ctx.obj = Env(directory or Path(), Console(-1 if quiet else verbose), explicit=directory is not None)


def _complete_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Figure ids from the manifest, for shell completion; nothing when it cannot be read."""
    from click.shell_completion import CompletionItem

    from figbuild.manifest import find, load

    root = ctx.find_root()
    directory = root.params.get("directory")
    try:
        manifest = load(find(directory or Path(), search_parents=directory is None))
    except (FigbuildError, OSError):
        return []
    return [CompletionItem(figure.id) for figure in manifest.figures if figure.id.startswith(incomplete)]


_figure_ids = click.argument("ids", nargs=-1, shell_complete=_complete_ids)


@cli.command()
@pass_env
def init(env: Env) -> int:
    """Write a commented starter figures.yaml (never overwrites one)."""
    from figbuild.starter import write_starter

    path = write_starter(env.directory)
    env.console.note(f"wrote {path}; edit it, then run `figbuild status`")
    return ExitCode.OK


@cli.command()
@click.option("--schema-path", is_flag=True, help="Print the path of the manifest's JSON Schema and exit.")
@pass_env
def validate(env: Env, schema_path: bool) -> int:
    """Check the manifest and its content sources; sends nothing."""
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


@cli.command()
@_figure_ids
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON array of {id, state, reasons, output, ...}."
)
@click.option(
    "--check", is_flag=True, help="Exit 1 when any figure is not fresh (frozen ones count as fresh)."
)
@pass_env
def status(env: Env, ids: tuple[str, ...], as_json: bool, check: bool) -> int:
    """Show each figure's state and, for stale ones, why."""
    from figbuild.output import StatusRow, ignored_lines, status_json, status_table

    paper = env.paper()
    lock = paper.read_lock()
    statuses, errors, problems = paper.survey(ids, lock)
    order = {figure.id: index for index, figure in enumerate(paper.manifest.figures)}
    rows: list[StatusRow] = sorted([*statuses, *errors], key=lambda row: order[row.id])
    rows += [] if ids else paper.orphans(lock)
    if as_json:
        env.console.print(status_json(rows))
    else:
        env.console.print("\n".join(status_table(rows, verbose=env.console.verbosity > 0)))
    for line in ignored_lines(paper.ignored_outputs(statuses)):
        env.console.note(line)
    if problems:  # after the rows: the other figures' states are shown all the same
        raise ManifestError(problems)
    code = ExitCode.OK
    if check:
        behind = [s.id for s in statuses if not s.state.passes_check]
        if behind:
            env.console.error(f"not fresh: {', '.join(behind)}")
            code = ExitCode.FAILED
    fastpath.offer(paper.root, (paper.root / s.output for s in statuses), code)
    return code


@cli.command()
@click.argument("figure_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object.")
@pass_env
def show(env: Env, figure_id: str, as_json: bool) -> int:
    """Print exactly what would be sent for figure ID: the rendered prompt, the options,
    and the content with the file and lines each part came from."""
    from figbuild import show as shows

    shown = shows.show(env.paper(), figure_id)
    for line in shows.show_json(shown) if as_json else shows.show_lines(shown):
        env.console.print(line)
    return ExitCode.OK


@cli.command()
@click.argument("figure_id", metavar="ID")
@pass_env
def diff(env: Env, figure_id: str) -> int:
    """Show what changed in the prompt, options and content of figure ID since its
    image was made, as a unified diff (nothing when nothing changed)."""
    from figbuild import show as shows

    lines = shows.diff(env.paper(), figure_id)
    for line in lines:
        env.console.print(line)
    if not lines:
        env.console.note(f"{figure_id}: no change since its image was made")
    return ExitCode.OK


@cli.command()
@pass_env
def deps(env: Env) -> int:
    """Print the files the figures are made from, one per line (for build tools).

    The manifest, the lock and every content file, relative to the paper root;
    a manifest or content problem leaves out what it hides, and exits 0.
    """
    from figbuild.deps import dependencies

    for name in dependencies(env.directory, search_parents=not env.explicit):
        env.console.print(name)
    return ExitCode.OK


def _backend_options(func: _F) -> _F:
    """Options shared by every command that produces figures."""
    func = click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help="Figures in flight at once (default: what the key's rate limit sustains).",
    )(func)
    func = click.option(
        "--emulator",
        is_flag=True,
        help="Run against the bundled emulator on a free loopback port: no key, no network.",
    )(func)
    func = click.option(
        "--placeholder",
        is_flag=True,
        help="Draw local placeholder images instead of calling the API: no key, no credits.",
    )(func)
    return click.option(
        "--max-credits",
        type=click.IntRange(min=0),
        default=None,
        help="Refuse, before spending anything, to spend more than N credits.",
    )(func)


@cli.command()
@_figure_ids
@click.option("--dry-run", is_flag=True, help="Show the plan and its cost; send nothing.")
@click.option("--force", is_flag=True, help="Regenerate the named (or all) figures, modified ones too.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as one JSON object (generated, restored, skipped, failed, credits).",
)
@click.option(
    "--candidates",
    type=click.IntRange(1, 8),
    default=None,
    help="Generate N images per request this run (N times the credits); `figbuild pick` chooses.",
)
@click.option(
    "--best-effort",
    is_flag=True,
    help="For build hooks: whatever stops a figure is a one-line warning, figures keep their "
    "image or get a placeholder, and the exit status is 0.",
)
@_backend_options
@pass_env
def sync(
    env: Env,
    ids: tuple[str, ...],
    dry_run: bool,
    force: bool,
    as_json: bool,
    candidates: int | None,
    best_effort: bool,
    jobs: int | None,
    max_credits: int | None,
    placeholder: bool,
    emulator: bool,
) -> int:
    """Bring the named (or all) figures up to date."""
    from figbuild import backends, engine
    from figbuild.output import ignored_lines, plan_lines, reporter_for, sync_json, sync_summary

    if best_effort and not dry_run:
        return _sync_best_effort(env, ids, force, jobs, max_credits, placeholder, emulator, as_json)
    paper = env.paper()
    name = backends.choose(placeholder=placeholder, emulator=emulator)
    reporter = reporter_for(env.console)
    try:
        with backends.open_backend(name, reporter=reporter, trace=env.console.debug) as backend:
            result = engine.sync(
                paper,
                backend,
                reporter,
                ids=ids,
                force=force,
                dry_run=dry_run,
                max_credits=max_credits,
                jobs=jobs,
                candidates=candidates,
            )
    finally:
        reporter.close()
    for line in ignored_lines(paper.ignored_outputs(result.statuses)):
        env.console.note(line)
    if as_json:
        env.console.print(sync_json(result))
    elif dry_run:
        env.console.print("\n".join(plan_lines(result)))
    else:
        show = env.console.error if result.failed else env.console.note
        show("\n".join(sync_summary(result)))  # one write: 2,000 lines are 2,000 syscalls otherwise
    if result.plan.empty and not result.plan.skipped and not result.failed and result.refusal is None:
        # Nothing was done: the next identical sync may be answered by the fast path.
        fastpath.offer(paper.root, (paper.root / s.output for s in result.statuses), ExitCode.OK)
    return ExitCode.FAILED if result.failed or result.refusal else ExitCode.OK


@cli.command()
@_figure_ids
@click.option("--json", "as_json", is_flag=True, help="Print the versions and the ledger as JSON.")
@pass_env
def log(env: Env, ids: tuple[str, ...], as_json: bool) -> int:
    """List each figure's versions, newest first, and the credit ledger."""
    from figbuild import history
    from figbuild.output import log_json, log_lines

    result = history.log(env.paper(), ids)
    for line in log_json(result) if as_json else log_lines(result):
        env.console.print(line)
    return ExitCode.OK


@cli.command()
@click.argument("figure_id", shell_complete=_complete_ids)
@click.argument("version", type=click.IntRange(min=1))
@pass_env
def restore(env: Env, figure_id: str, version: int) -> int:
    """Put VERSION (as `figbuild log` numbers them) of a figure back, for 0 credits."""
    from figbuild import history

    chosen = history.restore(env.paper(), figure_id, version)
    env.console.note(
        f"{figure_id}: version {version} ({chosen.entry.how.value}, {chosen.entry.when}) is back"
    )
    return ExitCode.OK


@cli.command()
@click.argument("figure_id", shell_complete=_complete_ids)
@click.argument("candidate", type=click.IntRange(min=1))
@pass_env
def pick(env: Env, figure_id: str, candidate: int) -> int:
    """Put candidate K of a figure's current request in place, for 0 credits."""
    from figbuild import history

    history.pick(env.paper(), figure_id, candidate)
    env.console.note(f"{figure_id}: candidate {candidate} is in place")
    return ExitCode.OK


@cli.command()
@click.argument("ids", nargs=-1, required=True, shell_complete=_complete_ids)
@pass_env
def accept(env: Env, ids: tuple[str, ...]) -> int:
    """Take the image on disk as each figure's image for its current inputs."""
    from figbuild import history

    for figure_id in history.accept(env.paper(), ids):
        env.console.note(f"{figure_id}: accepted the image on disk; fresh until an input changes")
    return ExitCode.OK


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@pass_env
def prune(env: Env, dry_run: bool) -> int:
    """Store, then remove, the outputs and records of figures no longer in the manifest."""
    from figbuild import history

    orphans = history.prune(env.paper(), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed (kept in history)"
    for orphan in orphans:
        env.console.note(f"{orphan.id}: {verb} {orphan.output} and its record")
    if not orphans:
        env.console.note("nothing to prune")
    return ExitCode.OK


@cli.group()
def store() -> None:
    """The history store of the paper's images."""


@store.command("gc")
@click.option("--keep", type=click.IntRange(min=1), required=True, help="Versions kept per figure.")
@click.option("--dry-run", is_flag=True, help="Say what would be trimmed; remove nothing.")
@pass_env
def store_gc(env: Env, keep: int, dry_run: bool) -> int:
    """Trim old versions beyond the newest N per figure (never a current image)."""
    from figbuild import history

    result = history.gc(env.paper(), keep, dry_run=dry_run)
    verb = "would trim" if dry_run else "trimmed"
    env.console.note(f"{verb} {len(result.trimmed)} versions, freeing {result.freed_bytes:,} bytes")
    return ExitCode.OK


def _sync_best_effort(
    env: Env,
    ids: tuple[str, ...],
    force: bool,
    jobs: int | None,
    max_credits: int | None,
    placeholder: bool,
    emulator: bool,
    as_json: bool,
) -> int:
    from functools import partial

    from figbuild import backends, besteffort
    from figbuild.output import best_effort_json, reporter_for

    reporter = reporter_for(env.console)
    name = backends.choose(placeholder=placeholder, emulator=emulator)
    session = partial(backends.open_backend, name, reporter=reporter, trace=env.console.debug, fail_fast=True)
    try:
        result = besteffort.sync(
            env.directory,
            session,
            reporter,
            ids=ids,
            force=force,
            max_credits=max_credits,
            jobs=jobs,
            search_parents=not env.explicit,
        )
    finally:
        reporter.close()
    for line in result.warnings:
        env.console.error(f"figbuild: warning: {line}")
    if as_json:
        env.console.print(best_effort_json(result))
    elif result.generated or result.placeholders:
        env.console.note(
            f"generated {len(result.generated)}, placeholders {len(result.placeholders)}, "
            f"skipped {len(result.warnings)}; {result.credits_spent} credits spent"
        )
    if result.root is not None and not (result.generated or result.placeholders or result.warnings):
        # Nothing was done: the next identical sync may be answered by the fast path.
        fastpath.offer(result.root, result.outputs, ExitCode.OK)
    return ExitCode.OK


@cli.command()
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds without further edits before a sync starts (default 2; 0.5 with --draft).",
)
@click.option("--poll", is_flag=True, help="Poll for changes instead of using native file events.")
@click.option(
    "--draft",
    is_flag=True,
    help="Draw placeholders for stale figures as you type (no key, no credits); "
    "real generation is left to an explicit `figbuild sync`.",
)
@_backend_options
@pass_env
def watch(
    env: Env,
    settle: float | None,
    poll: bool,
    draft: bool,
    jobs: int | None,
    max_credits: int | None,
    placeholder: bool,
    emulator: bool,
) -> int:
    """Sync what each edit makes stale, until Ctrl-C (exit 130) or SIGTERM (exit 0).

    --max-credits caps what the whole session may spend.
    """
    import signal

    from figbuild import backends
    from figbuild.output import reporter_for
    from figbuild.watch import Watcher, WatchOptions

    root = env.paper_root()

    terminated = []

    def on_term(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if draft and emulator:
        raise click.UsageError("--draft draws placeholders; it excludes --emulator")
    if settle is None:
        settle = 0.5 if draft else 2.0
    options = WatchOptions(settle=settle, poll=poll, max_credits=max_credits, jobs=jobs, draft=draft)
    name = backends.choose(placeholder=placeholder or draft, emulator=emulator)
    reporter = reporter_for(env.console)
    if draft:
        env.console.note("draft: placeholders for stale figures; `figbuild sync` makes the real ones")
    try:
        with backends.open_backend(name, reporter=reporter, trace=env.console.debug) as backend:
            Watcher(root, backend, reporter, options).run()
    except (KeyboardInterrupt, FigbuildError) as exc:
        if isinstance(exc, FigbuildError) and exc.exit_code != ExitCode.INTERRUPTED:
            raise
        env.console.note("stopped watching; every submitted task is recorded in figures.lock")
        return ExitCode.OK if terminated else ExitCode.INTERRUPTED
    finally:
        reporter.close()
    return ExitCode.OK


@cli.command()
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the site into DIR (default: .figbuild/gallery in the paper).",
)
@click.option(
    "--serve", is_flag=True, help="Serve the page on loopback, with pick/restore/accept/sync buttons."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: a loopback address.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: a free port.")
@click.option("--watch", "watching", is_flag=True, help="With --serve: also sync what each edit makes stale.")
@_backend_options
@pass_env
def gallery(
    env: Env,
    out: Path | None,
    serve: bool,
    host: str,
    port: int,
    watching: bool,
    jobs: int | None,
    max_credits: int | None,
    placeholder: bool,
    emulator: bool,
) -> int:
    """Write an HTML page of every figure (image, state, prompt, versions, credits).

    With --serve, serve it on loopback until Ctrl-C; the backend options apply to
    its sync button and to --watch.
    """
    from figbuild import backends
    from figbuild.gallery import serve as serving
    from figbuild.gallery import site

    if not serve:
        if watching or port or placeholder or emulator or jobs is not None or max_credits is not None:
            raise click.UsageError("--watch, --port and the backend options need --serve")
        index = site.build(env.paper(), out, balance=site.key_balance())
        env.console.print(index.resolve().as_uri())
        return ExitCode.OK
    from figbuild.output import reporter_for
    from figbuild.watch import WatchOptions

    serving.check_host(host)
    name = backends.choose(placeholder=placeholder, emulator=emulator)
    reporter = reporter_for(env.console)
    watch = WatchOptions(max_credits=max_credits, jobs=jobs) if watching else None

    def ready(url: str) -> None:
        env.console.print(f"figbuild gallery: {url}")
        env.console.note("Ctrl-C stops it.")

    try:
        serving.run(
            env.paper(),
            name,
            reporter,
            ready,
            out=out,
            host=host,
            port=port,
            watch=watch,
            max_credits=max_credits,
            jobs=jobs,
        )
    except KeyboardInterrupt:
        env.console.note("gallery server stopped")
    finally:
        reporter.close()
    return ExitCode.OK


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the balance as JSON.")
@pass_env
def credits(env: Env, as_json: bool) -> int:
    """Show remaining credits, plan and rate limit."""
    from figbuild.backends.paperbanana.client import Client
    from figbuild.backends.paperbanana.settings import Settings
    from figbuild.output import credits_lines

    with Client(Settings.from_env(), trace=env.console.debug) as client:
        balance = client.credits()
    for line in credits_lines(balance, as_json):
        env.console.print(line)
    return ExitCode.OK


@cli.command()
@click.option("--status", type=click.Choice(["pending", "processing", "success", "failed"]), default=None)
@click.option("--type", "type_", type=click.Choice(["standard", "pipeline"]), default=None)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--all", "all_pages", is_flag=True, help="Every page, not just one.")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as a JSON array.")
@pass_env
def tasks(
    env: Env, status: str | None, type_: str | None, page: int, limit: int, all_pages: bool, as_json: bool
) -> int:
    """List the remote tasks of this key."""
    from figbuild.backends.paperbanana.client import Client
    from figbuild.backends.paperbanana.settings import Settings
    from figbuild.output import task_lines

    with Client(Settings.from_env(), trace=env.console.debug) as client:
        if all_pages:
            listed = list(client.iter_tasks(type=type_, status=status))
            footer = f"{len(listed)} tasks"
        else:
            result = client.tasks(page=page, limit=limit, type=type_, status=status)
            listed = list(result.tasks)
            footer = f"page {result.page}, {len(listed)} of {result.total} tasks"
    for line in task_lines(listed, as_json):
        env.console.print(line)
    if not as_json:
        env.console.note(footer)
    return ExitCode.OK


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: a free port.")
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Seconds a task takes to finish.",
)
@click.option("--rpm", type=click.IntRange(min=1), default=120, show_default=True, help="Rate limit per key.")
@click.option("--credits", "credit_balance", type=click.IntRange(min=0), default=75_000, show_default=True)
@click.option("--plan", default="team-basic", show_default=True)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of tasks that end failed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --fail-rate.")
@click.option(
    "--key",
    default=None,
    help="Accept only this sk-... key (default: any sk- key), to rehearse a refused key.",
)
@pass_env
def emulator(
    env: Env,
    host: str,
    port: int,
    latency: float,
    rpm: int,
    credit_balance: int,
    plan: str,
    fail_rate: float,
    seed: int,
    key: str | None,
) -> int:
    """Run a local Paper Banana-compatible server (no key, no credits) until Ctrl-C."""
    from figbuild import emulator as emulators
    from figbuild.backends.paperbanana.settings import BASE_URL_ENV, EMULATOR_KEY, KEY_ENV

    config = emulators.EmulatorConfig(
        host=host,
        port=port,
        latency=latency,
        rpm=rpm,
        credits=credit_balance,
        plan=plan,
        fail_rate=fail_rate,
        seed=seed,
        key=key,
    )

    def ready(base_url: str) -> None:
        env.console.print(f"Paper Banana emulator listening on {base_url}")
        env.console.print("Use it from another shell with:")
        env.console.print(f"  export {BASE_URL_ENV}={base_url}")
        env.console.print(f"  export {KEY_ENV}={key or EMULATOR_KEY}")
        env.console.note("Ctrl-C stops it.")

    try:
        emulators.serve(config, ready)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None
    except KeyboardInterrupt:
        env.console.note("emulator stopped")
    return ExitCode.OK


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script and of ``python -m figbuild``."""
    cli.main(args=argv, prog_name="figbuild")
    raise AssertionError("unreachable")  # pragma: no cover - cli.main always exits
