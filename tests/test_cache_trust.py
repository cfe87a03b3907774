"""figbuild's caches are the user's own: another user's (or a world-writable) cache
file is ignored, never replayed or believed, and the folders are made 0700.

Runs the installed console script, as the fast path's tests do.
"""

from __future__ import annotations

import marshal
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from figbuild import fastpath

from .test_fastpath import _env

SCRIPT = shutil.which("figbuild") or ""
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCRIPT, reason="the figbuild console script is not installed"),
]
OTHER_UID = 64_999


def figbuild(
    args: list[str], cwd: Path, env: dict[str, str], *, fast: bool = True
) -> tuple[int, bytes, bytes]:
    env = {**env, fastpath.DISABLE_ENV: "" if fast else "1"}
    done = subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def aged(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "paper"
    root.mkdir()
    (root / "figures.yaml").write_text("version: 1\nfigures:\n  a:\n    prompt: x\n")
    env = _env(tmp_path / "home")
    assert figbuild(["sync", "--placeholder"], root, env)[0] == 0
    old = time.time() - 60
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    time.sleep(2.1)  # ctimes too must be older than the racy window
    return root, env


def _snapshots(env: dict[str, str]) -> list[Path]:
    folder = Path(env["HOME"]) / ".cache" / "figbuild" / "fastpath"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("how", ["world-writable", "another-user"])
def test_a_snapshot_another_user_could_write_is_never_replayed(
    aged: tuple[Path, dict[str, str]], how: str
) -> None:
    root, env = aged
    full = figbuild(["status", "--check"], root, env, fast=False)
    [snapshot] = _snapshots(env)
    assert stat.S_IMODE(snapshot.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(snapshot.parent.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(snapshot.stat().st_mode) & 0o077 == 0
    assert figbuild(["status", "--check"], root, env) == full
    # Another user rewrites it: everything fresh, exit 0, and a terminal escape.
    version, key, _, _, paths, signatures = marshal.loads(snapshot.read_bytes())
    forged = (version, key, 0, ((1, "a  fresh \x1b]0;pwned\x07\n"),), paths, signatures)
    snapshot.write_bytes(marshal.dumps(forged))
    if how == "world-writable":
        snapshot.chmod(0o666)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can hand a file to another user")
        os.chown(snapshot, OTHER_UID, OTHER_UID)
    answer = figbuild(["status", "--check"], root, env)
    assert b"pwned" not in answer[1]
    assert answer == full


def test_a_cache_folder_of_another_user_is_never_used(aged: tuple[Path, dict[str, str]]) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can hand a folder to another user")
    root, env = aged
    full = figbuild(["status"], root, env, fast=False)
    folder = Path(env["HOME"]) / ".cache" / "figbuild"
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, OTHER_UID, OTHER_UID)
    version, key, _, _, paths, signatures = marshal.loads(_snapshots(env)[0].read_bytes())
    forged = (version, key, 0, ((1, "forged\n"),), paths, signatures)
    _snapshots(env)[0].write_bytes(marshal.dumps(forged))
    os.lchown(_snapshots(env)[0], 0, 0)  # the file looks ours; its folder is theirs
    assert figbuild(["status"], root, env) == full


def test_the_stat_cache_of_another_user_is_ignored(tmp_path: Path) -> None:
    from figbuild.cache import Cache

    cache = Cache(tmp_path)
    cache.put("outputs", "figures/a.png", [1, 2, 3, 4, "forged digest"])
    cache.save()
    assert cache.path is not None
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.path.stat().st_mode) & 0o077 == 0
    assert Cache(tmp_path).get("outputs", "figures/a.png") is not None
    cache.path.chmod(0o666)  # anyone may have written it
    assert Cache(tmp_path).get("outputs", "figures/a.png") is None
    cache.path.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(cache.path, OTHER_UID, OTHER_UID)  # another user's
        assert Cache(tmp_path).get("outputs", "figures/a.png") is None
