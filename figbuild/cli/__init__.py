"""The command line: parse the arguments and call one command of `figbuild.commands`.

The only package that knows click: `root` has the group, the global options and the
one place exceptions become exit codes; `paper`, `history` and `account` the commands.
"""

from figbuild.cli import account, history, paper  # noqa: F401  (each registers its commands)
from figbuild.cli.root import cli, hoist_global_options, main

__all__ = ["cli", "hoist_global_options", "main"]
