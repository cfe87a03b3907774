"""The commands about the API and the user: credits, tasks, login, logout, example, emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from figbuild.cli.root import cli, pass_env
from figbuild.commands import Env


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
