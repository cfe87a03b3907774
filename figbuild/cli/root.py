"""The root of the command line: the `figbuild` group, its global options, the options
several commands share, and the one place exceptions become exit codes."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from figbuild import __version__
from figbuild.commands import BackendOptions, Env, exit_code_of
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
        def run() -> int:
            try:
                # Always non-standalone: exceptions become exit codes in exit_code_of,
                # whether run as a script or through click's CliRunner.
                return int(
                    click.Group.main(self, args, prog_name or "figbuild", complete_var, False, **extra) or 0
                )
            except click.exceptions.Abort:
                raise KeyboardInterrupt from None
            except click.ClickException as exc:
                exc.show()
                return ExitCode.USAGE

        sys.exit(exit_code_of(run))


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


def complete_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
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


figure_ids = click.argument("ids", nargs=-1, shell_complete=complete_ids)


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default=None,
    help="text, json, or github (annotations on files and lines, the step summary and outputs); "
    "default: github when GITHUB_ACTIONS=true, else text.",
)


def backend_options(func: Callable[..., int]) -> Callable[..., int]:
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


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script and of ``python -m figbuild``."""
    cli.main(args=argv, prog_name="figbuild")
    raise AssertionError("unreachable")  # pragma: no cover - cli.main always exits
