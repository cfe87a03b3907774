"""`figbuild example DIR`: the example paper, written from figbuild's package data.

The files are ``figbuild/example/`` of the installed package (a copy of the
repository's ``example-paper/``, kept identical by tests/test_example.py): both
twins of the paper, the manifest, the lock, the committed figures, the Makefile and
both latexmk rc files. An installed figbuild can be tried without a clone, and
without touching any file of one.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild.commands import Env
from figbuild.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from importlib.abc import Traversable

#: The package folder the example paper is shipped in.
PACKAGE_DIR = "example"


def example_files() -> Iterator[tuple[str, Traversable]]:
    """(relative path, resource) of every file of the shipped example paper, sorted."""
    root = files("figbuild").joinpath(PACKAGE_DIR)
    if not root.is_dir():
        raise UsageError(
            "this figbuild has no example paper in its package data",
            hint="reinstall figbuild (pip install --force-reinstall figbuild)",
        )

    def walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
        for entry in sorted(folder.iterdir(), key=lambda item: item.name):
            if entry.name == "__pycache__":
                continue
            if entry.is_dir():
                yield from walk(entry, f"{prefix}{entry.name}/")
            else:
                yield f"{prefix}{entry.name}", entry

    yield from walk(root, "")


def example(env: Env, directory: Path) -> int:
    """Write the example paper into ``directory`` (created; refused if not empty)."""
    target = env.directory / directory  # as git -C: relative to -C DIR, else to here
    if target.exists() and not target.is_dir():
        raise UsageError(f"{directory} exists and is not a folder", hint="name a new or empty folder")
    if target.is_dir() and any(target.iterdir()):
        raise UsageError(
            f"{directory} is not empty; figbuild example writes only into a new or empty folder",
            hint="name a new folder, e.g. figbuild example try-figbuild",
        )
    written = list(example_files())
    try:
        target.mkdir(parents=True, exist_ok=True)
        for relative, resource in written:
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(resource.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot write the example paper into {directory}: {exc.strerror}") from None
    shown = shlex.quote(str(directory))
    env.console.note(f"wrote the example paper ({len(written)} files) into {directory}")
    env.console.note(f"try it with no key: figbuild -C {shown} sync --emulator && figbuild -C {shown} status")
    return ExitCode.OK
