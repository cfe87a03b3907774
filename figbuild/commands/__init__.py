"""The commands behind the CLI: one plain function per command, no click.

`figbuild.cli` parses the command line and calls one of these with an `Env` and the
parsed options; each prints through `env.console` and returns an exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild.records import frozen

if TYPE_CHECKING:
    from figbuild.output import Console
    from figbuild.paper import Paper


@frozen
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
        return self.manifest_path().parent

    def manifest_path(self) -> Path:
        from figbuild.manifest import find

        return find(self.directory, search_parents=not self.explicit)


@frozen
class BackendOptions:
    """The options of every command that produces figures."""

    jobs: int | None = None
    max_credits: int | None = None
    placeholder: bool = False
    emulator: bool = False

    @property
    def any_set(self) -> bool:
        return self.placeholder or self.emulator or self.jobs is not None or self.max_credits is not None

    def backend_name(self, *, placeholder: bool = False) -> str:
        from figbuild import backends

        return backends.choose(placeholder=self.placeholder or placeholder, emulator=self.emulator)


def exit_code_of(command: Callable[[], int | None]) -> int:
    """Run ``command``; its exit code, or the one its exception means, said in one line:
    the one place (for the CLI and the lean path alike) where an exception becomes an
    exit code, the API key redacted from whatever is said."""
    from figbuild.errors import ExitCode, FigbuildError
    from figbuild.output import Console

    try:
        return int(command() or 0)
    except KeyboardInterrupt:
        Console().error("figbuild: interrupted; run the same command again to resume")
        return ExitCode.INTERRUPTED
    except FigbuildError as exc:
        from figbuild.backends import redact

        Console().error(f"figbuild: error: {redact(str(exc))}")
        return exc.exit_code
    except BrokenPipeError:
        return ExitCode.FAILED
