"""The read-mostly commands a build hook and an author run most, without click.

After an edit the fast path cannot answer, and the full CLI would import click (and
``inspect``, ``typing`` and the rest of its machinery: tens of milliseconds, more
than figbuild's own work on a one-file edit) only to parse arguments the fast path
has already parsed. For the questions :func:`figbuild.fastpath.parse` understands
(``status``, ``deps`` and ``sync`` with the options it knows), this calls the same
function of :mod:`figbuild.commands` that the CLI calls, with the same `Env`, and
turns exceptions into exit codes exactly as ``figbuild.cli`` does. Anything it is
unsure of (shell completion, an option value click would refuse, a ``-C`` that is
not a paper) goes to the full CLI, which then says what is wrong.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from figbuild import fastpath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from figbuild.commands import Env


def run(argv: Sequence[str]) -> None:
    """Run ``argv`` and exit, when it is a question this module answers; else return."""
    request = _understood(argv)
    if request is None:
        return
    from figbuild.commands import Env, exit_code_of
    from figbuild.output import Console

    command, verbosity, directory, flags, values, ids = request
    env = Env(Path(directory or ""), Console(verbosity), explicit=directory is not None)
    sys.exit(exit_code_of(lambda: _call(env, command, set(flags), dict(values), ids)))


def _understood(argv: Sequence[str]) -> tuple[Any, ...] | None:
    if any(name.startswith("_FIGBUILD_COMPLETE") for name in os.environ):
        return None  # click's shell completion
    request = fastpath.parse(argv)
    if request is None or fastpath.find_root(request[2]) is None:
        return None
    values = dict(request[4])
    if values.get("--jobs", 1) < 1:
        return None  # click refuses it, with its own message
    return request


def _call(env: Env, command: str, flags: set[str], values: dict[str, int], ids: tuple[str, ...]) -> int:
    if command == "status":
        from figbuild.commands import paper

        return paper.status(env, ids, as_json="--json" in flags, check="--check" in flags)
    if command == "deps":
        from figbuild.commands import paper

        return paper.deps(env)
    from figbuild.commands import BackendOptions
    from figbuild.commands import sync as syncs

    options = syncs.SyncOptions(
        ids=ids,
        dry_run="--dry-run" in flags,
        as_json="--json" in flags,
        best_effort="--best-effort" in flags,
        deps="--deps" in flags,
    )
    backend = BackendOptions(
        jobs=values.get("--jobs"),
        max_credits=values.get("--max-credits"),
        placeholder="--placeholder" in flags,
        emulator="--emulator" in flags,
    )
    return syncs.sync(env, options, backend)
