"""The history commands: log, restore, pick, accept, prune, merge-lock, store."""

from __future__ import annotations

from pathlib import Path

import click

from figbuild.cli.root import cli, complete_ids, figure_ids, pass_env
from figbuild.commands import Env


@cli.command()
@figure_ids
@click.option("--json", "as_json", is_flag=True, help="Print the versions and the ledger as JSON.")
@pass_env
def log(env: Env, ids: tuple[str, ...], as_json: bool) -> int:
    """List each figure's versions, newest first, and the credit ledger."""
    from figbuild.commands import history

    return history.log(env, ids, as_json=as_json)


@cli.command()
@click.argument("figure_id", shell_complete=complete_ids)
@click.argument("version", type=click.IntRange(min=1))
@pass_env
def restore(env: Env, figure_id: str, version: int) -> int:
    """Put VERSION (as `figbuild log` numbers them) of a figure back, for 0 credits."""
    from figbuild.commands import history

    return history.restore(env, figure_id, version)


@cli.command()
@click.argument("figure_id", shell_complete=complete_ids)
@click.argument("candidate", type=click.IntRange(min=1))
@pass_env
def pick(env: Env, figure_id: str, candidate: int) -> int:
    """Put candidate K of a figure's current request in place, for 0 credits."""
    from figbuild.commands import history

    return history.pick(env, figure_id, candidate)


@cli.command()
@click.argument("ids", nargs=-1, required=True, shell_complete=complete_ids)
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
