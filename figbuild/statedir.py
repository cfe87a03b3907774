"""figbuild's private directory in a paper (``.figbuild/``, git-ignored) and the run lock in it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from figbuild import atomic, locks
from figbuild.errors import FileError
from figbuild.paths import RootGuard

STATE_DIR = ".figbuild"


def state_dir(root: Path) -> Path:
    """figbuild's private directory in a paper, made with a .gitignore that ignores it."""
    directory = root / STATE_DIR
    guard = RootGuard(root)
    if directory.is_symlink() and not guard.inside(directory):
        # A repository could link it to any folder of the user's, and figbuild would write there.
        raise FileError(
            f"{directory} links to {guard.real(directory)}, outside the paper, where figbuild must not write",
            hint="remove the link; figbuild makes the folder itself",
        )
    try:
        directory.mkdir(exist_ok=True)
    except FileExistsError:
        raise FileError(
            f"{directory} is a file; figbuild keeps its state in a folder of that name",
            hint="move or delete that file",
        ) from None
    except OSError as exc:
        raise FileError(
            f"cannot create {directory}: {exc.strerror}", hint="figbuild needs to write in the paper's folder"
        ) from None
    ignore = directory / ".gitignore"
    if not ignore.is_file():
        # Put back if deleted; a folder figbuild cannot write in is reported by what
        # it writes next (the run lock), naming that file.
        with contextlib.suppress(OSError):
            atomic.write_bytes(ignore, b"# created by figbuild\n*\n")
    return directory


@contextlib.contextmanager
def run_lock(root: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the paper's run lock: one sync at a time per paper, across processes."""
    path = state_dir(root) / "run.lock"
    held = contextlib.ExitStack()
    try:
        held.enter_context(locks.exclusive(path, on_wait))
    except OSError as exc:
        raise FileError(f"cannot lock {path}: {exc.strerror}") from None
    with held:
        yield
