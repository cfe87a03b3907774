"""Read-only and unreadable folders, as a user that file modes apply to.

Root ignores file modes, so when the suite runs as root (as in CI containers) each
figbuild run here is a subprocess under a throwaway uid: ``setpriv --reuid=UID
--regid=UID --clear-groups`` (util-linux, on Debian in the base system), or else
``runuser -u nobody``. The paper is made in a world-traversable temp folder and
handed to that uid with chown, so that only the modes the test sets stand in the
way. Run as a normal user, the subprocess runs as that user. Each case is a
one-line error naming the path, with SPEC's exit code, and nothing is paid for.

The demoted user must be able to run this interpreter and import figbuild: on a
machine whose Python lives under root's 0700 home (pyenv in /root), it may only
find a system stdlib of the same version, or nothing. A probe run first decides,
and the whole file is skipped, saying why, when figbuild cannot run demoted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import Lock, read, write

from .test_engine import paid_task, posts

#: A uid (and gid) no account uses, for the subprocess when the suite runs as root.
THROWAWAY_ID = 64_999


def _demote() -> list[str] | None:
    """The command prefix that runs a program as a user file modes apply to, or None."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={THROWAWAY_ID}", f"--regid={THROWAWAY_ID}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


PREFIX = _demote()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PREFIX is None, reason="running as root without setpriv or runuser: file modes cannot be tested"
    ),
]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@dataclass
class Sandbox:
    """A paper owned by the demoted user, and a way to run figbuild as that user."""

    root: Path
    home: Path
    server: Emulator

    def figbuild(self, *args: str, directory: Path | None = None) -> Run:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "PAPERBANANA_BASE_URL": self.server.base_url,
            "PAPERBANANA_API_KEY": "sk-test-key",
        }
        argv = [*(PREFIX or []), sys.executable, "-m", "figbuild", "-C", str(directory or self.root), *args]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        return Run(done.returncode, done.stdout, done.stderr)

    def give(self) -> None:
        """Hand everything in the sandbox to the demoted user."""
        if os.geteuid() == 0 and PREFIX and PREFIX[0] == "setpriv":
            for path in [self.root.parent, *self.root.parent.rglob("*")]:
                os.lchown(path, THROWAWAY_ID, THROWAWAY_ID)
        elif os.geteuid() == 0:
            shutil.chown(self.root.parent, "nobody")
            for path in self.root.parent.rglob("*"):
                shutil.chown(path, "nobody")


@pytest.fixture(scope="module")
def demoted_python() -> None:
    """Skip unless the demoted user can run this interpreter and import figbuild."""
    probe = [*(PREFIX or []), sys.executable, "-c", "import figbuild.cli, figbuild.engine, PIL.Image"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False, cwd="/")
    if done.returncode != 0:
        why = done.stderr.strip()[-200:]
        pytest.skip(f"a non-root user cannot run {sys.executable} with figbuild: {why}")


@pytest.fixture
def sandbox(demoted_python: None) -> Iterator[Sandbox]:
    base = Path(tempfile.mkdtemp(prefix="figbuild-perm-"))
    base.chmod(0o755)  # mkdtemp makes 0700: the demoted user must get in
    root = base / "paper"
    root.mkdir()
    (root / "figures.yaml").write_text(
        "version: 1\nfigures:\n  a:\n    prompt: x\n  b:\n    prompt: y\n    output: b.png\n"
    )
    (base / "home").mkdir()
    try:
        with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
            yield Sandbox(root, base / "home", server)
    finally:
        for path in [base, *base.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(base)


def _names(run: Run, *names: str) -> None:
    for name in names:
        assert name in run.stderr, (name, run.stderr)


def test_the_demoted_user_really_is_held_back_by_modes(sandbox: Sandbox) -> None:
    # The premise of this file: if this fails, the other tests prove nothing.
    sandbox.give()
    sandbox.root.chmod(0o555)
    probe = [*(PREFIX or []), sys.executable, "-c", f"open({str(sandbox.root / 'x')!r}, 'w')"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "Permission denied" in done.stderr


def test_a_read_only_figures_folder_fails_its_figures_before_they_are_paid_for(sandbox: Sandbox) -> None:
    (sandbox.root / "figures").mkdir()
    sandbox.give()
    (sandbox.root / "figures").chmod(0o555)
    run = sandbox.figbuild("sync")
    assert run.code == 1
    _names(run, "figures/a.png", "Permission denied")
    assert posts(sandbox.server) == 1, "only b, whose output is writable, is paid for"
    assert (sandbox.root / "b.png").is_file()
    assert list((sandbox.root / "figures").iterdir()) == []


def test_a_paid_task_whose_folder_turned_read_only_stays_pending_and_is_collected_later(
    sandbox: Sandbox,
) -> None:
    (sandbox.root / "figures").mkdir()
    write(sandbox.root / "figures.lock", Lock().with_pending("a", paid_task(sandbox.server, sandbox.root)))
    sandbox.give()
    (sandbox.root / "figures").chmod(0o555)
    run = sandbox.figbuild("sync", "a")
    assert run.code == 1
    _names(run, "figures/a.png", "stays pending")
    assert read(sandbox.root / "figures.lock").record("a").pending
    (sandbox.root / "figures").chmod(0o755)
    assert sandbox.figbuild("sync", "a").code == 0
    assert (sandbox.root / "figures/a.png").is_file()
    assert posts(sandbox.server) == 1, "collected, not paid again"


def test_a_read_only_paper_folder_is_exit_2_and_sends_nothing(sandbox: Sandbox) -> None:
    sandbox.give()
    sandbox.root.chmod(0o555)
    run = sandbox.figbuild("sync")
    assert run.code == 2
    _names(run, ".figbuild", "Permission denied")
    assert posts(sandbox.server) == 0
    assert sandbox.figbuild("status").code == 0, "status writes nothing into the paper"


def test_a_read_only_paper_folder_with_a_state_folder_is_exit_2_naming_the_lock(sandbox: Sandbox) -> None:
    (sandbox.root / ".figbuild").mkdir()
    (sandbox.root / "figures").mkdir()
    sandbox.give()
    sandbox.root.chmod(0o555)
    run = sandbox.figbuild("sync")
    assert run.code == 2
    _names(run, "figures.lock", "Permission denied")
    assert posts(sandbox.server) == 0
    assert list((sandbox.root / "figures").iterdir()) == []


def test_a_read_only_state_folder_is_exit_2_naming_it(sandbox: Sandbox) -> None:
    (sandbox.root / ".figbuild").mkdir()
    sandbox.give()
    (sandbox.root / ".figbuild").chmod(0o555)
    run = sandbox.figbuild("sync")
    assert run.code == 2
    _names(run, ".figbuild/run.lock")
    assert posts(sandbox.server) == 0


@pytest.mark.parametrize("mode", [0o000, 0o444, 0o111])
@pytest.mark.parametrize("command", ["status", "sync", "validate"])
def test_dash_c_to_an_unreadable_folder_is_exit_2_naming_it(
    sandbox: Sandbox, command: str, mode: int
) -> None:
    sandbox.give()
    sandbox.root.chmod(mode)
    run = sandbox.figbuild(command)
    assert run.code == 2
    _names(run, str(sandbox.root))
    assert posts(sandbox.server) == 0


def test_dash_c_below_an_untraversable_folder_is_exit_2_naming_it(sandbox: Sandbox) -> None:
    sandbox.give()
    sandbox.root.chmod(0o000)
    run = sandbox.figbuild("status", directory=sandbox.root / "sub")
    assert run.code == 2
    _names(run, str(sandbox.root / "sub"))


def test_an_unreadable_output_is_exit_2_naming_it(sandbox: Sandbox) -> None:
    (sandbox.root / "figures").mkdir()
    (sandbox.root / "figures/a.png").write_bytes(b"someone's image")
    sandbox.give()
    (sandbox.root / "figures/a.png").chmod(0o000)
    for command in ("status", "sync"):
        run = sandbox.figbuild(command)
        assert run.code == 2
        _names(run, "figures/a.png", "Permission denied")
    assert posts(sandbox.server) == 0


@pytest.mark.parametrize("name", ["figures.yaml", "figures.lock"])
def test_an_unreadable_manifest_or_lock_is_exit_2_naming_it(sandbox: Sandbox, name: str) -> None:
    (sandbox.root / "figures.lock").write_text('{"figbuild_lock": 1, "figures": {}}\n')
    sandbox.give()
    (sandbox.root / name).chmod(0o000)
    for command in ("status", "sync"):
        run = sandbox.figbuild(command)
        assert run.code == 2
        _names(run, name, "Permission denied")
        assert len(run.stderr.strip().splitlines()) <= 2
    assert posts(sandbox.server) == 0
