"""Commands that talk to the API or stand in for it: credits, tasks, emulator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from figbuild.commands import Env
from figbuild.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from figbuild.emulator import EmulatorConfig


def credits(env: Env, *, as_json: bool) -> int:
    """Show remaining credits, plan and rate limit."""
    from figbuild.backends.paperbanana.client import Client
    from figbuild.backends.paperbanana.settings import Settings
    from figbuild.output import credits_lines

    with Client(Settings.from_env(), trace=env.console.debug) as client:
        balance = client.credits()
    for line in credits_lines(balance, as_json):
        env.console.print(line)
    return ExitCode.OK


@dataclass(frozen=True)
class TaskQuery:
    """Which remote tasks `figbuild tasks` lists."""

    status: str | None = None
    type: str | None = None
    page: int = 1
    limit: int = 20
    all_pages: bool = False


def tasks(env: Env, query: TaskQuery, *, as_json: bool) -> int:
    """List the remote tasks of this key."""
    from figbuild.backends.paperbanana.client import Client
    from figbuild.backends.paperbanana.settings import Settings
    from figbuild.output import task_lines

    with Client(Settings.from_env(), trace=env.console.debug) as client:
        if query.all_pages:
            listed = list(client.iter_tasks(type=query.type, status=query.status))
            footer = f"{len(listed)} tasks"
        else:
            result = client.tasks(page=query.page, limit=query.limit, type=query.type, status=query.status)
            listed = list(result.tasks)
            footer = f"page {result.page}, {len(listed)} of {result.total} tasks"
    for line in task_lines(listed, as_json):
        env.console.print(line)
    if not as_json:
        env.console.note(footer)
    return ExitCode.OK


def emulator(env: Env, config: EmulatorConfig) -> int:
    """Run a local Paper Banana-compatible server until Ctrl-C."""
    from figbuild import emulator as emulators
    from figbuild.backends.paperbanana.settings import BASE_URL_ENV, EMULATOR_KEY, KEY_ENV

    def ready(base_url: str) -> None:
        env.console.print(f"Paper Banana emulator listening on {base_url}")
        env.console.print("Use it from another shell with:")
        env.console.print(f"  export {BASE_URL_ENV}={base_url}")
        env.console.print(f"  export {KEY_ENV}={config.key or EMULATOR_KEY}")
        env.console.note("Ctrl-C stops it.")

    try:
        emulators.serve(config, ready)
    except ValueError as exc:
        raise UsageError(f"--host: {exc}") from None
    except KeyboardInterrupt:
        env.console.note("emulator stopped")
    return ExitCode.OK
