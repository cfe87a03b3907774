"""The README's try-it command, from a fresh clone, exactly as written.

The clone is made from this checkout's tracked files (as they are in the working
tree) in a new git repository; the command runs there in bash, with pip reaching the
package index as a user's would. Afterwards no tracked file of the clone has
changed: `figbuild example` wrote the paper into a new folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

pytestmark = pytest.mark.skipif(
    not (REPO / ".git").exists() or shutil.which("git") is None, reason="needs a git checkout and git"
)

TRY_IT = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && figbuild example try-figbuild"
    " && figbuild -C try-figbuild sync --emulator && figbuild -C try-figbuild status"
)
TESTS = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest'
#: pip's words when the package index cannot be reached.
OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "No matching distribution")


def shell_blocks() -> list[str]:
    return [block.strip() for block in re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.S | re.M)]


def test_the_readme_starts_with_the_try_it_command_then_the_test_command() -> None:
    assert shell_blocks()[:2] == [TRY_IT, TESTS]


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def _fresh_clone(target: Path) -> None:
    """This checkout's tracked files, as they are now, committed in a new repository."""
    tracked = _git("ls-files", "-z", cwd=REPO).split("\0")
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _git("init", "-q", cwd=target)
    _git("add", "-A", cwd=target)
    _git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "clone", cwd=target)


@pytest.mark.slow
def test_the_try_it_command_works_in_a_fresh_clone_and_changes_no_tracked_file(tmp_path: Path) -> None:
    clone = tmp_path / "figbuild"
    clone.mkdir()
    _fresh_clone(clone)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # The python3 a user has, not this test's venv.
    env["PATH"] = os.pathsep.join(
        d for d in env.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "figbuild").exists()
    )
    done = subprocess.run(
        ["bash", "-c", TRY_IT], cwd=clone, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0 and any(word in done.stderr for word in OFFLINE):
        pytest.skip("pip cannot reach the package index here")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("(emulator image)") == 4, done.stdout
    assert (clone / "try-figbuild" / "figures.lock").is_file()
    assert _git("status", "--porcelain", cwd=clone) == "", "no tracked file changed, nothing new to commit"
