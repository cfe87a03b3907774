"""figbuild's private directory in a paper, and the run lock in it."""

from __future__ import annotations

import threading
from pathlib import Path

from figbuild.statedir import STATE_DIR, run_lock, state_dir


def test_state_dir_is_made_once_and_ignores_itself(tmp_path: Path) -> None:
    directory = state_dir(tmp_path)
    assert directory == tmp_path / STATE_DIR == tmp_path / ".figbuild"
    gitignore = directory / ".gitignore"
    assert gitignore.read_text(encoding="utf-8").splitlines() == ["# created by figbuild", "*"]
    gitignore.write_text("mine\n", encoding="utf-8")
    assert state_dir(tmp_path) == directory
    assert gitignore.read_text(encoding="utf-8") == "mine\n", "an existing directory is left as it is"


def test_run_lock_admits_one_at_a_time_and_says_when_it_waits(tmp_path: Path) -> None:
    waited = threading.Event()
    entered = threading.Event()

    def second() -> None:
        with run_lock(tmp_path, on_wait=waited.set):
            entered.set()

    with run_lock(tmp_path):
        assert (tmp_path / STATE_DIR / "run.lock").exists()
        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(5), "the second run was told it waits"
        assert not entered.wait(0.1), "... and does wait"
    assert entered.wait(5), "it runs once the first is done"
    thread.join(5)


def test_run_lock_free_calls_no_on_wait(tmp_path: Path) -> None:
    calls: list[str] = []
    with run_lock(tmp_path, on_wait=lambda: calls.append("waited")):
        pass
    with run_lock(tmp_path, on_wait=lambda: calls.append("waited")):
        pass
    assert calls == []


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from figbuild.statedir import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait(10)
    waits: list[bool] = []
    with run_lock(tmp_path, on_wait=lambda: waits.append(True)):
        pass
    assert waits == []  # released by the kernel when its holder died
