"""File-system faults: each is a one-line error naming the path, with SPEC's exit code,
and nothing is paid for that a later sync cannot collect.

A figure whose output cannot be written fails alone (exit 1), checked before its
request is sent; a paper figbuild cannot keep its state or lock in stops the run
before anything is sent (exit 2). The cases that need file modes to mean
something (read-only folders) are in test_permissions.py, run as a non-root user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import Lock, read, write

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
