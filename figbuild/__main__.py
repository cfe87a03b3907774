"""The console script and ``python -m figbuild``: the no-op fast path, else the full CLI.

Nothing is imported before :func:`figbuild.fastpath.replay` has had its chance: a
status with nothing changed never loads click or the rest of figbuild. When it cannot
answer, :mod:`figbuild.lean` runs the commands it understood without click.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> NoReturn:
    """Entry point of the console script and of ``python -m figbuild``."""
    from figbuild import fastpath

    argv = sys.argv[1:]
    try:
        fastpath.replay(argv)  # exits when it could answer
    except SystemExit as answered:
        # Printed and flushed: what is left is the interpreter freeing the snapshot it
        # just loaded, milliseconds at 10,000 figures, on every LaTeX pass.
        os._exit(answered.code if isinstance(answered.code, int) else 1)
    try:
        from figbuild import lean

        lean.run(argv)  # status, deps, sync without click; exits when it could answer
        from figbuild.cli import main as cli_main

        cli_main(argv)
    except SystemExit as exc:
        _save(fastpath.finish(exc.code))
        raise


def _save(snapshot: tuple[str, bytes] | None) -> None:
    """Write the run's snapshot for the next one; a cache that cannot be written is no error."""
    if snapshot is None:
        return
    import contextlib
    from pathlib import Path

    from figbuild import atomic, fastpath

    with contextlib.suppress(OSError):
        fastpath.private_dir(fastpath.cache_home())
        fastpath.private_dir(str(Path(snapshot[0]).parent))
        atomic.write_bytes(Path(snapshot[0]), snapshot[1], mode=0o600)


if __name__ == "__main__":
    main()
