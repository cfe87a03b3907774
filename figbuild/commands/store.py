"""`figbuild store status|push|pull`: what differs between the local store and the team's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from figbuild.commands import Env
from figbuild.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from figbuild.store import Store
    from figbuild.team import Team


def _open(env: Env) -> tuple[Team, Store]:
    from figbuild import team
    from figbuild.output import reporter_for
    from figbuild.store import Store

    paper = env.paper()
    opened = team.open_team(paper.root, paper.manifest.remote, reporter_for(env.console))
    if opened is None:
        raise UsageError(
            "no team store is configured",
            hint="set FIGBUILD_REMOTE=s3://bucket/prefix (or file:///path), or `remote:` in figures.yaml",
        )
    return opened, Store.at(paper.root)


def _unreachable() -> Exception:
    from figbuild.store.remote import RemoteError

    return RemoteError(
        "the team store could not be reached (the warning above says why)",
        hint="check the network, the bucket and the AWS credentials (docs/team.md)",
    )


def status(env: Env) -> int:
    """Say what differs between the local store and the team's."""
    remote, store = _open(env)
    found = remote.differences(store)
    if found is None:
        raise _unreachable()
    to_push, to_pull = found
    env.console.print(f"team store: {remote.url} (this machine: {remote.machine})")
    env.console.print(f"to push: {len(to_push)} image(s) the team store lacks")
    env.console.print(f"to pull: {len(to_pull)} image(s) only the team store has")
    return ExitCode.OK


def push(env: Env) -> int:
    """Push every image of the local store the team store lacks."""
    remote, store = _open(env)
    pushed = remote.sweep(store)
    if remote.offline:
        raise _unreachable()
    env.console.note(f"pushed {pushed} image(s) to {remote.url}")
    return ExitCode.OK


def pull(env: Env) -> int:
    """Put every image of the team store the local store lacks into it."""
    remote, store = _open(env)
    pulled = remote.pull(store)
    if remote.offline:
        raise _unreachable()
    env.console.note(f"pulled {pulled} image(s) from {remote.url}")
    return ExitCode.FAILED if remote.refused else ExitCode.OK
