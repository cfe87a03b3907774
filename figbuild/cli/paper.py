"""The commands that read or build the paper: init, validate, status, show, diff,
disclose, deps, sync, watch, gallery."""

from __future__ import annotations

from pathlib import Path

import click

from figbuild.cli.root import backend_options, cli, complete_ids, figure_ids, format_option, pass_env
from figbuild.commands import BackendOptions, Env


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


@cli.command()
@click.option("--schema-path", is_flag=True, help="Print the path of the manifest's JSON Schema and exit.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {valid, problems, warnings}, each problem as {file, line, figure, key, message, hint}.",
)
@format_option
@pass_env
def validate(env: Env, schema_path: bool, as_json: bool, fmt: str | None) -> int:
    """Check the manifest and its content sources; sends nothing."""
    from figbuild.commands import paper

    return paper.validate(env, schema_path=schema_path, fmt="json" if as_json else fmt)


@cli.command()
@figure_ids
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON array of {id, state, reasons, output, ...}."
)
@click.option(
    "--check", is_flag=True, help="Exit 1 when any figure is not fresh (frozen ones count as fresh)."
)
@format_option
@pass_env
def status(env: Env, ids: tuple[str, ...], as_json: bool, check: bool, fmt: str | None) -> int:
    """Show each figure's state and, for stale ones, why."""
    from figbuild.commands import paper

    return paper.status(env, ids, as_json=as_json, check=check, fmt=fmt)


@cli.command()
@click.argument("figure_id", metavar="ID", shell_complete=complete_ids)
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object.")
@pass_env
def show(env: Env, figure_id: str, as_json: bool) -> int:
    """Print exactly what would be sent for figure ID: the rendered prompt, the options,
    and the content with the file and lines each part came from."""
    from figbuild.commands import paper

    return paper.show(env, figure_id, as_json=as_json)


@cli.command()
@click.argument("figure_id", metavar="ID", shell_complete=complete_ids)
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


@cli.command()
@figure_ids
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
@backend_options
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
@backend_options
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
@backend_options
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
