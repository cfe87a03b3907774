"""File-system faults: each is a one-line error naming the path, with SPEC's exit code,
and nothing is paid for that a later sync cannot collect.

A figure whose output cannot be written fails alone (exit 1), checked before its
request is sent; a paper figbuild cannot keep its state or lock in stops the run
before anything is sent (exit 2). The cases that need file modes to mean
something (read-only folders) are in test_permissions.py, run as a non-root user.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from figbuild import engine
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import Lock, read, write
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.statedir import run_lock

from .conftest import PaperFactory
from .test_engine import paid_task, posts

RunCli = Callable[..., Result]


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator, and the environment that points the CLI at it."""
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
        monkeypatch.setenv("PAPERBANANA_BASE_URL", server.base_url)
        monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-test-key")
        yield server


def _paper(make_paper: PaperFactory) -> Path:
    return make_paper({"version": 1, "figures": {"a": {"prompt": "x"}, "b": {"prompt": "y"}}})


def _one_error_line(result: Result, *names: str) -> str:
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line or "failed" in line]
    assert errors, result.output
    for name in names:
        assert any(name in line for line in errors), (name, result.stderr)
    return result.stderr


def test_an_output_occupied_by_a_folder_fails_that_figure_before_it_is_paid_for(
    make_paper: PaperFactory, run_cli: RunCli, emulator: Emulator
) -> None:
    root = _paper(make_paper)
    (root / "figures/a.png").mkdir(parents=True)
    result = run_cli("sync", root=root)
    assert result.exit_code == 1
    _one_error_line(result, "figures/a.png")
    assert (root / "figures/a.png").is_dir()
    assert (root / "figures/b.png").is_file(), "the other figure is made"
    assert posts(emulator) == 1, "no request is paid for a figure that cannot be written"


def test_a_folder_at_the_output_of_a_paid_task_keeps_the_task_for_the_next_sync(
    make_paper: PaperFactory, run_cli: RunCli, emulator: Emulator
) -> None:
    root = _paper(make_paper)
    write(root / "figures.lock", Lock().with_pending("a", paid_task(emulator, root)))
    (root / "figures/a.png").mkdir(parents=True)
    result = run_cli("sync", "a", root=root)
    assert result.exit_code == 1
    _one_error_line(result, "figures/a.png")
    assert read(root / "figures.lock").record("a").pending, "the paid task is still recorded"
    assert [p.name for p in (root / "figures").iterdir()] == ["a.png"], "no temp file left"
    (root / "figures/a.png").rmdir()
    assert run_cli("sync", "a", root=root).exit_code == 0
    assert (root / "figures/a.png").is_file()
    assert posts(emulator) == 1, "collected, not paid again"


def test_figures_being_a_file_fails_its_figures_before_they_are_paid_for(
    make_paper: PaperFactory, run_cli: RunCli, emulator: Emulator
) -> None:
    root = make_paper(
        {"version": 1, "figures": {"a": {"prompt": "x"}, "b": {"prompt": "y", "output": "b.png"}}}
    )
    (root / "figures").write_text("not a folder")
    result = run_cli("sync", root=root)
    assert result.exit_code == 1
    _one_error_line(result, "figures")
    assert (root / "figures").read_text() == "not a folder"
    assert (root / "b.png").is_file()
    assert posts(emulator) == 1


def test_a_file_named_figbuild_where_the_state_folder_goes_is_exit_2_and_sends_nothing(
    make_paper: PaperFactory, run_cli: RunCli, emulator: Emulator
) -> None:
    root = _paper(make_paper)
    (root / ".figbuild").write_text("mine")
    result = run_cli("sync", root=root)
    assert result.exit_code == 2
    _one_error_line(result, ".figbuild")
    assert (root / ".figbuild").read_text() == "mine"
    assert posts(emulator) == 0
    assert not (root / "figures").exists()
    assert run_cli("status", root=root).exit_code == 0, "status needs no state folder"


# -- temp files left by killed runs ---------------------------------------------------------


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _stale_files(root: Path) -> dict[str, Path]:
    """Temp files as a killed run leaves them, and files that merely look alike."""
    (root / "figures").mkdir(exist_ok=True)
    an_hour = 3600.0
    files = {
        # Written only by a sync (an output, the lock): gone once no sync runs.
        "output": (root / "figures/.a.png.k3j_x9z1.figbuild-tmp", 0.0),
        "lock": (root / ".figures.lock.0a1b2c3d.figbuild-tmp", 0.0),
        # Not a name a sync writes: removed only once it is old.
        "old-other": (root / "figures/.renamed.png.q8w7e6r5.figbuild-tmp", an_hour),
        "young-other": (root / "figures/.renamed.png.m1n2b3v4.figbuild-tmp", 0.0),
        # Other names are never touched, however old.
        "lookalike": (root / "figures/a.png.figbuild-tmp.bak", an_hour),
        "no-dot": (root / "figures/a.png.k3j_x9z1.figbuild-tmp", an_hour),
        "mine": (root / "figures/notes.txt", an_hour),
    }
    for name, (path, age) in files.items():
        path.write_text(name)
        _age(path, age)
    return {name: path for name, (path, _) in files.items()}


def test_temp_files_left_by_killed_runs_are_removed_by_the_next_sync_and_nothing_else(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = _paper(make_paper)
    files = _stale_files(root)
    (root / ".figbuild").mkdir()
    figbuild_tmp = root / ".figbuild/.run.lock.a1s2d3f4.figbuild-tmp"
    figbuild_tmp.write_text("the state folder is not swept")
    _age(figbuild_tmp, 3600)
    assert run_cli("sync", "--placeholder", "--dry-run", root=root).exit_code == 0
    assert all(path.exists() for path in files.values()), "a dry run removes nothing"
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    gone = {name for name, path in files.items() if not path.exists()}
    assert gone == {"output", "lock", "old-other"}
    assert figbuild_tmp.exists()
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0, "and a no-op sync is fine"


def test_a_sync_with_nothing_to_do_still_sweeps(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = _paper(make_paper)
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    leftover = root / "figures/.b.png.z9x8c7v6.figbuild-tmp"
    leftover.write_bytes(b"half an image")
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    assert not leftover.exists()


def test_temp_files_of_a_live_run_are_left_alone(make_paper: PaperFactory) -> None:
    # Another sync holds the run lock: its temp files are in use. This sync waits for
    # it, and sweeps only once it has the paper to itself.
    root = _paper(make_paper)
    live = root / "figures/.a.png.l1v3r4nn.figbuild-tmp"
    live.parent.mkdir()
    live.write_bytes(b"being downloaded")
    seen: list[bool] = []
    with run_lock(root):
        worker = threading.Thread(
            target=lambda: engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter())
        )
        worker.start()
        time.sleep(0.5)
        seen.append(live.exists())
    worker.join(timeout=60)
    assert seen == [True]
    assert not live.exists()


def test_a_folder_named_figures_lock_is_exit_2_naming_it(
    make_paper: PaperFactory, run_cli: RunCli, emulator: Emulator
) -> None:
    root = _paper(make_paper)
    (root / "figures.lock").mkdir()
    for command in ("status", "sync"):
        result = run_cli(command, root=root)
        assert result.exit_code == 2
        _one_error_line(result, "figures.lock")
    assert posts(emulator) == 0


def test_a_state_folder_linked_outside_the_paper_is_exit_2_and_nothing_is_written_there(
    make_paper: PaperFactory, run_cli: RunCli, emulator: Emulator, tmp_path: Path
) -> None:
    # A hostile repository commits `.figbuild` as a symlink to another folder of the
    # user's: figbuild would write its .gitignore and run lock there.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".gitignore").write_text("someone's\n")
    root = _paper(make_paper)
    (root / ".figbuild").symlink_to(elsewhere)
    result = run_cli("sync", root=root)
    assert result.exit_code == 2
    _one_error_line(result, ".figbuild")
    assert sorted(p.name for p in elsewhere.iterdir()) == [".gitignore"]
    assert (elsewhere / ".gitignore").read_text() == "someone's\n"
    assert posts(emulator) == 0
