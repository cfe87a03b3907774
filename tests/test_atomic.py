"""`atomic`'s temp files: made as `tempfile.mkstemp` makes them, without importing it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from figbuild import atomic

from .conftest import PaperFactory


@settings(max_examples=50, deadline=None)
@given(name=st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=20))
@example(name="\n")  # found by CI: a name with a newline was no temp file to sweep
def test_a_temp_file_is_new_private_and_named_for_its_target(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    if name in (".", ".."):
        return
    # (A name with a line break is outside _TEMP_NAME, for tempfile's names as for these.)
    folder = tmp_path_factory.mktemp("t")
    target = folder / name
    fd, made = atomic._mkstemp(target)
    os.close(fd)
    made_path = Path(made)
    assert made_path.parent == folder.resolve()
    assert made_path.is_absolute()
    match = atomic._TEMP_NAME.fullmatch(made_path.name)
    assert match is not None
    assert match["target"] == name
    assert stat.S_IMODE(made_path.lstat().st_mode) == 0o600
    assert atomic.temp_files(folder) == [made_path]  # what sweep and temp_files look for


def test_a_temp_name_taken_or_a_symlink_is_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "figures.lock"
    draws = iter([b"\0" * 8, b"\1" * 8, b"\2" * 8])
    monkeypatch.setattr(atomic.os, "urandom", lambda n: next(draws))
    taken = tmp_path / f".figures.lock.aaaaaaaa{atomic.TEMP_SUFFIX}"
    taken.write_bytes(b"someone else's")
    (tmp_path / f".figures.lock.bbbbbbbb{atomic.TEMP_SUFFIX}").symlink_to(tmp_path / "elsewhere")
    fd, made = atomic._mkstemp(target)
    os.close(fd)
    assert Path(made).name == f".figures.lock.cccccccc{atomic.TEMP_SUFFIX}"
    assert taken.read_bytes() == b"someone else's"
    assert not (tmp_path / "elsewhere").exists()


def test_a_first_status_writes_its_caches_without_importing_tempfile(
    make_paper: PaperFactory, tmp_path: Path
) -> None:
    root = make_paper(
        {"version": 1, "figures": {"a": {"prompt": "A", "content": "a.tex"}}},
        {"a.tex": "\\section{A}\nText.\n"},
    )
    cache = tmp_path / "cache"
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('tempfile' in sys.modules, file=sys.stderr))\n"
        "from figbuild.__main__ import main\n"
        "main()\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", probe, "status"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "False"
    written = [p for p in (cache / "figbuild").rglob("*") if p.is_file() and p.name != ".evicted"]
    assert written  # the paper cache and the run's snapshot, written atomically
