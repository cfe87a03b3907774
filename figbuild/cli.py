"""The command line: parse the arguments and call one command of `figbuild.commands`.

The only module that knows click; also the one place exceptions become exit codes.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from figbuild import __version__
from figbuild.commands import BackendOptions, Env
from figbuild.errors import ExitCode, FigbuildError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


pass_env = click.make_pass_decorator(Env)

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
@click.version_option(__version__, "-V", "--version", prog_name="figbuild")
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
@click.option(
    "--git",
    "with_git",
    is_flag=True,
    help="Also make git merge figures.lock with figbuild (.gitattributes and merge.figbuild.driver).",
)
@pass_env
def init(env: Env, with_git: bool) -> int:
    """Write a commented starter figures.yaml (never overwrites one)."""
    from figbuild.commands import paper

    return paper.init(env, with_git=with_git)


_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default=None,
    help="text, json, or github (annotations on files and lines, the step summary and outputs); "
    "default: github when GITHUB_ACTIONS=true, else text.",
)


@cli.command()
@click.option("--schema-path", is_flag=True, help="Print the path of the manifest's JSON Schema and exit.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {valid, problems, warnings}, each problem as {file, line, figure, key, message, hint}.",
)
@_format
@pass_env
def validate(env: Env, schema_path: bool, as_json: bool, fmt: str | None) -> int:
    """Check the manifest and its content sources; sends nothing."""
    from figbuild.commands import paper

    return paper.validate(env, schema_path=schema_path, fmt="json" if as_json else fmt)


@cli.command()
@_figure_ids
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON array of {id, state, reasons, output, ...}."
)
@click.option(
    "--check", is_flag=True, help="Exit 1 when any figure is not fresh (frozen ones count as fresh)."
)
@_format
@pass_env
def status(env: Env, ids: tuple[str, ...], as_json: bool, check: bool, fmt: str | None) -> int:
    """Show each figure's state and, for stale ones, why."""
    from figbuild.commands import paper

    return paper.status(env, ids, as_json=as_json, check=check, fmt=fmt)


@cli.command()
@click.argument("figure_id", metavar="ID", shell_complete=_complete_ids)
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object.")
@pass_env
def show(env: Env, figure_id: str, as_json: bool) -> int:
    """Print exactly what would be sent for figure ID: the rendered prompt, the options,
    and the content with the file and lines each part came from."""
    from figbuild.commands import paper

    return paper.show(env, figure_id, as_json=as_json)


@cli.command()
@click.argument("figure_id", metavar="ID", shell_complete=_complete_ids)
@pass_env
def diff(env: Env, figure_id: str) -> int:
    """Show what changed in the prompt, options and content of figure ID since its
    image was made, as a unified diff (nothing when nothing changed)."""
    from figbuild.commands import paper

    return paper.diff(env, figure_id)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["latex", "markdown", "json"]),
    help="latex, markdown or json (default: from -o's extension or disclosure.output, else latex).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it to FILE.")
@pass_env
def disclose(env: Env, fmt: str | None, output: Path | None) -> int:
    """Print the AI-usage statement for the paper: each generated figure with its model,
    mode, resolution, date and how it was made (generated, a candidate, restored, edited
    by hand), the service and figbuild's version. Placeholders and emulator images are
    never listed as generated: they are named in a warning."""
    from figbuild.commands.disclose import disclose as run

    return run(env, fmt=fmt, output=output)


@cli.command()
@pass_env
def deps(env: Env) -> int:
    """Print the files the figures are made from, one per line (for build tools).

    The manifest, the lock and every content file, relative to the paper root;
    a manifest or content problem leaves out what it hides, and exits 0.
    """
    from figbuild.commands import paper

    return paper.deps(env)


def _backend_options(func: Callable[..., int]) -> Callable[..., int]:
    """Options shared by every command that produces figures, passed on as one
    `BackendOptions` named ``backend``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        jobs: int | None,
        max_credits: int | None,
        placeholder: bool,
        emulator: bool,
        **kwargs: Any,
    ) -> int:
        options = BackendOptions(
            jobs=jobs, max_credits=max_credits, placeholder=placeholder, emulator=emulator
        )
        return func(*args, backend=options, **kwargs)

    decorated: Callable[..., int] = wrapper
    for option in (
        click.option(
            "--max-credits",
            type=click.IntRange(min=0),
            default=None,
            help="Refuse, before spending anything, to spend more than N credits.",
        ),
        click.option(
            "--placeholder",
            is_flag=True,
            help="Draw local placeholder images instead of calling the API: no key, no credits.",
        ),
        click.option(
            "--emulator",
            is_flag=True,
            help="Run against the bundled emulator on a free loopback port: no key, no network.",
        ),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=None,
            help="Figures in flight at once (default: what the key's rate limit sustains).",
        ),
    ):
        decorated = option(decorated)
    return decorated


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
    help="For build hooks: what stops figures is one warning line (-v: one per figure), figures "
    "keep their image or get a placeholder, and the exit status is 0.",
)
@click.option(
    "--deps",
    "with_deps",
    is_flag=True,
    help="With --best-effort: then print what `figbuild deps` prints, on stdout (all else on stderr).",
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
    with_deps: bool,
    backend: BackendOptions,
) -> int:
    """Bring the named (or all) figures up to date."""
    from figbuild.commands import sync as syncs

    options = syncs.SyncOptions(
        ids=ids,
        dry_run=dry_run,
        force=force,
        as_json=as_json,
        candidates=candidates,
        best_effort=best_effort,
        deps=with_deps,
    )
    return syncs.sync(env, options, backend)


@cli.command()
@_figure_ids
@click.option("--json", "as_json", is_flag=True, help="Print the versions and the ledger as JSON.")
@pass_env
def log(env: Env, ids: tuple[str, ...], as_json: bool) -> int:
    """List each figure's versions, newest first, and the credit ledger."""
    from figbuild.commands import history

    return history.log(env, ids, as_json=as_json)


@cli.command()
@click.argument("figure_id", shell_complete=_complete_ids)
@click.argument("version", type=click.IntRange(min=1))
@pass_env
def restore(env: Env, figure_id: str, version: int) -> int:
    """Put VERSION (as `figbuild log` numbers them) of a figure back, for 0 credits."""
    from figbuild.commands import history

    return history.restore(env, figure_id, version)


@cli.command()
@click.argument("figure_id", shell_complete=_complete_ids)
@click.argument("candidate", type=click.IntRange(min=1))
@pass_env
def pick(env: Env, figure_id: str, candidate: int) -> int:
    """Put candidate K of a figure's current request in place, for 0 credits."""
    from figbuild.commands import history

    return history.pick(env, figure_id, candidate)


@cli.command()
@click.argument("ids", nargs=-1, required=True, shell_complete=_complete_ids)
@pass_env
def accept(env: Env, ids: tuple[str, ...]) -> int:
    """Take the image on disk as each figure's image for its current inputs."""
    from figbuild.commands import history

    return history.accept(env, ids)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@pass_env
def prune(env: Env, dry_run: bool) -> int:
    """Store, then remove, the outputs and records of figures no longer in the manifest."""
    from figbuild.commands import history

    return history.prune(env, dry_run=dry_run)


@cli.command("merge-lock")
@click.argument("base", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("ours", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("theirs", type=click.Path(path_type=Path, dir_okay=False))
@pass_env
def merge_lock(env: Env, base: Path, ours: Path, theirs: Path) -> int:
    """Git's merge driver for figures.lock (%O %A %B); `figbuild init --git` installs it."""
    from figbuild.commands import merge

    return merge.merge_lock(env, base, ours, theirs)


@cli.group()
def store() -> None:
    """The history store of the paper's images."""


@store.command("gc")
@click.option("--keep", type=click.IntRange(min=1), required=True, help="Versions kept per figure.")
@click.option("--dry-run", is_flag=True, help="Say what would be trimmed; remove nothing.")
@pass_env
def store_gc(env: Env, keep: int, dry_run: bool) -> int:
    """Trim old versions beyond the newest N per figure (never a current image)."""
    from figbuild.commands import history

    return history.store_gc(env, keep, dry_run=dry_run)


@store.command("status")
@pass_env
def store_status(env: Env) -> int:
    """Say what differs between the local store and the team's remote store."""
    from figbuild.commands import store as stores

    return stores.status(env)


@store.command("push")
@pass_env
def store_push(env: Env) -> int:
    """Push every image the team's remote store lacks."""
    from figbuild.commands import store as stores

    return stores.push(env)


@store.command("pull")
@pass_env
def store_pull(env: Env) -> int:
    """Put every image of the team's remote store into the local store."""
    from figbuild.commands import store as stores

    return stores.pull(env)


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
def watch(env: Env, settle: float | None, poll: bool, draft: bool, backend: BackendOptions) -> int:
    """Sync what each edit makes stale, until Ctrl-C (exit 130) or SIGTERM (exit 0).

    --max-credits caps what the whole session may spend.
    """
    from figbuild.commands import watch as watching

    return watching.watch(env, backend, settle=settle, poll=poll, draft=draft)


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
    env: Env, out: Path | None, serve: bool, host: str, port: int, watching: bool, backend: BackendOptions
) -> int:
    """Write an HTML page of every figure (image, state, prompt, versions, credits).

    With --serve, serve it on loopback until Ctrl-C; the backend options apply to
    its sync button and to --watch.
    """
    from figbuild.commands import gallery as galleries

    return galleries.gallery(env, backend, out=out, serve=serve, host=host, port=port, watching=watching)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the balance as JSON.")
@pass_env
def credits(env: Env, as_json: bool) -> int:
    """Show remaining credits, plan and rate limit."""
    from figbuild.commands import api

    return api.credits(env, as_json=as_json)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@pass_env
def example(env: Env, directory: Path) -> int:
    """Write the example paper (LaTeX and Markdown twins, manifest, lock, figures,
    Makefile, latexmk rc files) into DIRECTORY, a new or empty folder."""
    from figbuild.commands import example as examples

    return examples.example(env, directory)


@cli.command()
@click.option(
    "--with-key", is_flag=True, help="Read the key from standard input (for scripts), not a prompt."
)
@click.option(
    "--status", "show_status", is_flag=True, help="Say where the key in use comes from (never the key)."
)
@pass_env
def login(env: Env, with_key: bool, show_status: bool) -> int:
    """Keep the API key for this user, checked against the API first.

    Stored in the system keyring when the keyring package (figbuild[keyring]) has a
    backend, else in $XDG_CONFIG_HOME/figbuild/credentials (mode 0600).
    PAPERBANANA_API_KEY, when set, wins over the stored key.
    """
    from figbuild.commands import login as logins

    if show_status:
        return logins.status(env)
    if with_key:
        key = sys.stdin.readline()
    elif sys.stdin is not None and sys.stdin.isatty():
        key = click.prompt("Paper Banana API key (sk-...)", hide_input=True, err=True)
    else:
        raise click.UsageError("standard input is not a terminal: pass the key on it with --with-key")
    return logins.login(env, key)


@cli.command()
@pass_env
def logout(env: Env) -> int:
    """Forget the API key `figbuild login` stored."""
    from figbuild.commands import login as logins

    return logins.logout(env)


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
    from figbuild.commands import api

    query = api.TaskQuery(status=status, type=type_, page=page, limit=limit, all_pages=all_pages)
    return api.tasks(env, query, as_json=as_json)


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
    from figbuild.commands import api
    from figbuild.emulator import EmulatorConfig

    config = EmulatorConfig(
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
    return api.emulator(env, config)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script and of ``python -m figbuild``."""
    cli.main(args=argv, prog_name="figbuild")
    raise AssertionError("unreachable")  # pragma: no cover - cli.main always exits
