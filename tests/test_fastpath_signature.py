"""The fast path's record of its inputs: the real path of each folder once, then one
``lstat`` a file. For every tree of folders, files and symlinks (to files, to folders,
dangling, in a loop) and every later change to it, a snapshot must be trusted only if
no input's ``os.stat`` and ``os.path.realpath`` changed (the definition: one stat and one
realpath per path), and trusted again when nothing changed at all."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from figbuild import fastpath, snapinputs

NAMES = ("a", "b", "c")
where = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
target = st.lists(st.sampled_from((*NAMES, "..")), min_size=1, max_size=3)
entries = st.lists(st.tuples(where, st.sampled_from(("file", "folder", "link")), target), max_size=14)
changes = st.lists(
    st.tuples(
        st.sampled_from(("write", "touch", "remove", "replace-by-link", "add-file", "add-link")),
        where,
        target,
    ),
    max_size=3,
)


def _reference(path: str) -> object:
    """The definition: one stat and one realpath; the error's number when stat fails
    otherwise than by absence (a symlink loop)."""
    try:
        st_ = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        return error.errno
    return (
        st_.st_mode,
        st_.st_size,
        st_.st_mtime_ns,
        st_.st_ctime_ns,
        st_.st_ino,
        st_.st_dev,
        os.path.realpath(path),
    )


def _make(root: Path, made: list[tuple[list[str], str, list[str]]]) -> None:
    for parts, kind, points in made:
        path = root.joinpath(*parts)
        if not path.parent.is_dir() or os.path.lexists(path):
            continue
        if kind == "file":
            path.write_text("x" * len(parts))
        elif kind == "folder":
            path.mkdir()
        else:
            path.symlink_to(os.path.join(*points))


def _change(root: Path, how: str, parts: list[str], points: list[str]) -> None:
    path = root.joinpath(*parts)
    try:
        if how == "write" and path.is_file():
            path.write_text(path.read_text() + "y")
        elif how == "touch" and os.path.lexists(path):
            os.utime(path, follow_symlinks=False)
        elif how == "remove" and os.path.lexists(path):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        elif how == "replace-by-link" and path.is_dir() and not path.is_symlink():
            moved = root.parent / f"outside-{time.monotonic_ns()}"
            path.rename(moved)
            path.symlink_to(moved)  # the same files, now out of the paper
        elif how == "add-file" and path.parent.is_dir() and not os.path.lexists(path):
            path.write_text("new")
        elif how == "add-link" and path.parent.is_dir() and not os.path.lexists(path):
            path.symlink_to(os.path.join(*points))
    except OSError:
        pass  # a loop, a folder in the way: not a change this test can make


def _outcome(function: Callable[[list[str]], object], paths: list[str]) -> object:
    try:
        return function(paths)
    except OSError as error:
        return error.errno


def _whole(
    folders: tuple[fastpath.Folder, ...], signatures: tuple[tuple[object, ...], ...]
) -> dict[str, object]:
    """Each path's signature as the definition has it, put back together from a record:
    the file's own, with its folder's real path joined to its name (a symlink's has
    its own real path already)."""
    whole: dict[str, object] = {}
    for (folder, real, names), sigs in zip(folders, signatures, strict=True):
        for name, sig in zip(names, sigs, strict=True):
            if isinstance(sig, tuple) and len(sig) == 6:
                sig = (*sig, os.path.join(real, name))
            whole[os.path.join(folder, name)] = sig
    return whole


@settings(max_examples=200, deadline=None)
@given(entries, st.lists(where, max_size=12), changes)
@example(  # the folder of an input moved out of the paper, a symlink left in its place
    made=[(["a"], "folder", ["a"]), (["a", "b"], "file", ["a"])],
    asked=[],
    later=[("replace-by-link", ["a"], ["a"])],
)
def test_a_snapshot_is_trusted_exactly_when_no_input_changed(
    made: list[tuple[list[str], str, list[str]]],
    asked: list[list[str]],
    later: list[tuple[str, list[str], list[str]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(os.path.realpath(tmp)) / "paper"
        root.mkdir()
        _make(root, made)
        # Files only (as a run's inputs are), so that a folder on the way is no input itself.
        files = [parts for parts, kind, _ in made if kind != "folder"]
        paths = sorted({os.path.abspath(root.joinpath(*parts)) for parts in [*asked, *files]})
        before = [_reference(path) for path in paths]
        record = _outcome(lambda ps: fastpath.recorded(ps), paths)
        if not isinstance(record, tuple):
            return  # a symlink loop among the inputs: no snapshot is written (finish's OSError)
        assert _whole(*record) == dict(zip(paths, before, strict=True))
        kept = snapinputs.packed(*record)  # as a snapshot stores it
        assert fastpath._unchanged(*kept), "nothing changed: the snapshot must answer"
        for how, parts, points in later:
            _change(root, how, parts, points)
        after = [_reference(path) for path in paths]
        trusted = _outcome(lambda _: fastpath._unchanged(*kept), paths)
        if before != after:
            assert trusted is not True, "an input changed, yet the snapshot would answer"


def test_numbers_a_row_of_int64s_cannot_hold_are_kept_apart_and_still_compared(tmp_path: Path) -> None:
    old = tmp_path / "old.tex"
    old.write_text("x")
    os.utime(old, ns=(-5 * 10**9, -5 * 10**9))  # before 1970: a negative mtime fits a row
    folders, signatures = fastpath.recorded([str(old)])
    assert fastpath._unchanged(*snapinputs.packed(folders, signatures))
    mode, size, mtime, ctime, _, device = signatures[0][0]
    huge = ((mode, size, mtime, ctime, 2**64 - 1, device),)  # an inode beyond int64
    stored, kept = snapinputs.packed(folders, (huge,))
    assert kept[0][1] == {0: huge[0]}, "kept apart, by position"
    assert not fastpath._unchanged(stored, kept), "and compared: the real inode is another"
    os.utime(old, ns=(-4 * 10**9, -4 * 10**9))
    assert not fastpath._unchanged(*snapinputs.packed(folders, signatures))
    assert fastpath.ROW == snapinputs.ROW  # the replay reads the rows the writer packs
