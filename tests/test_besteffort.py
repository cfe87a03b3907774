"""`sync --best-effort`: whatever stops a figure is a warning, and the build goes on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from figbuild.lockfile import read

from .conftest import PaperFactory, all_files, simple_manifest

RunCli = Callable[..., Result]

FILES = {"sections/method.tex": "\\section{Method}\nWe fuse.\n", "notes.md": "# Notes\nText.\n"}


@pytest.fixture
def paper(make_paper: PaperFactory, run_cli: RunCli) -> Path:
    """Two figures with placeholder images recorded in the lock."""
    root = make_paper(
        simple_manifest(
            method={"prompt": "The {{ method }} method.", "content": "sections/method.tex"},
            notes={"prompt": "Notes.", "content": "notes.md"},
        ),
        FILES,
    )
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    return root


def warnings(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("figbuild: warning:")]


def test_without_a_key_the_stale_figures_are_one_summary_line_and_keep_their_images(
    paper: Path, run_cli: RunCli
) -> None:
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    before = all_files(paper)
    result = run_cli("sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    (line,) = warnings(result)
    assert line.startswith("figbuild: warning: 2 figures not synced (method, notes): ")
    assert "PAPERBANANA_API_KEY is not set" in line
    assert "figbuild login" in line
    assert "other reasons" not in line
    assert "each keeps its image" in line
    assert result.stderr.count("\n") == 1, "one line for the whole sync"
    after = all_files(paper)
    assert {k: v for k, v in after.items() if not k.startswith(".figbuild")} == {
        k: v for k, v in before.items() if not k.startswith(".figbuild")
    }


def test_with_v_each_skipped_figure_also_gets_its_own_line(paper: Path, run_cli: RunCli) -> None:
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    result = run_cli("-v", "sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    assert len(warnings(result)) == 1
    details = [line for line in result.stderr.splitlines() if line.startswith("figbuild:   ")]
    assert len(details) == 2
    assert "method: not synced (stale: placeholder; content sections/method.tex changed)" in details[0]
    assert "kept its image" in details[0]


def test_many_figures_are_named_up_to_a_few_and_counted(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(simple_manifest(**{f"f{n}": {"prompt": f"Figure {n}."} for n in range(7)}))
    result = run_cli("sync", "--best-effort", root=root)
    assert result.exit_code == 0
    (line,) = warnings(result)
    assert line.startswith("figbuild: warning: 7 figures not synced (f0, f1, f2, f3 and 3 more): ")
    assert all((root / f"figures/f{n}.png").is_file() for n in range(7)), "placeholders stand in"


def test_deps_prints_what_figbuild_deps_prints_on_stdout_after_the_sync(paper: Path, run_cli: RunCli) -> None:
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    hook = run_cli("sync", "--best-effort", "--deps", root=paper)
    assert hook.exit_code == 0
    assert hook.stdout == run_cli("deps", root=paper).stdout
    assert hook.stdout.splitlines() == ["figures.yaml", "figures.lock", "sections/method.tex", "notes.md"]
    assert len(warnings(hook)) == 1, "the warning goes to stderr, not into the list"
    synced = run_cli("sync", "--best-effort", "--deps", "--placeholder", root=paper)
    assert synced.stdout == hook.stdout
    assert read(paper / "figures.lock").record("method").generated is not None


def test_deps_without_a_manifest_prints_nothing_and_exits_0(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("sync", "--best-effort", "--deps", root=tmp_path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no figures.yaml" in warnings(result)[0]


@pytest.mark.parametrize("extra", [(), ("--best-effort", "--json"), ("--best-effort", "--dry-run")])
def test_deps_is_only_for_a_best_effort_sync(paper: Path, run_cli: RunCli, extra: tuple[str, ...]) -> None:
    result = run_cli("sync", "--deps", *extra, root=paper)
    assert result.exit_code == 2
    assert "--deps is for build hooks" in result.stderr


def test_a_figure_without_an_image_gets_a_placeholder(paper: Path, run_cli: RunCli) -> None:
    (paper / "figures/notes.png").unlink()
    result = run_cli("-v", "sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    assert "placeholders stand in for 1, the others keep theirs" in warnings(result)[0]
    assert next(line for line in result.stderr.splitlines() if "notes: not" in line).endswith(
        "a placeholder stands in"
    )
    assert (paper / "figures/notes.png").is_file()
    status = run_cli("status", "--json", root=paper)
    assert '"state": "stale"' in status.stdout


def test_with_a_key_and_no_credits_it_warns_and_spends_nothing(paper: Path, run_cli: RunCli) -> None:
    (paper / "notes.md").write_text("# Notes\nOther text.\n")
    result = run_cli("sync", "--best-effort", "--emulator", "--max-credits", "0", root=paper)
    assert result.exit_code == 0
    (line,) = warnings(result)  # both placeholders would be replaced by real images
    assert line.startswith("figbuild: warning: 2 figures not synced (method, notes): ")
    assert "--max-credits 0" in line
    assert read(paper / "figures.lock").record("notes").generated.provisional  # type: ignore[union-attr]


def test_an_invalid_manifest_writes_nothing_and_exits_0(paper: Path, run_cli: RunCli) -> None:
    manifest = paper / "figures.yaml"
    manifest.write_text(manifest.read_text() + "  broken: [\n")
    before = all_files(paper)
    result = run_cli("sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    (line,) = warnings(result)
    assert "invalid YAML" in line
    assert "fix figures.yaml" in line
    assert all_files(paper) == before


def test_no_manifest_is_a_warning(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("sync", "--best-effort", root=tmp_path)
    assert result.exit_code == 0
    assert "no figures.yaml" in warnings(result)[0]


def test_a_content_error_skips_that_figure_only(paper: Path, run_cli: RunCli) -> None:
    (paper / "notes.md").unlink()
    (paper / "figures/notes.png").unlink()
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    result = run_cli("sync", "--best-effort", "--emulator", root=paper)
    assert result.exit_code == 0, result.stderr
    (line,) = warnings(result)
    assert line.startswith("figbuild: warning: notes: skipped (")
    assert "notes.md" in line
    assert "drew a placeholder" in line
    lock = read(paper / "figures.lock")
    method = lock.record("method").generated
    assert method is not None
    assert method.how == "emulator", "the healthy figure was really generated (by the emulator)"
    notes = lock.record("notes").generated
    assert notes is not None
    assert notes.provisional
    # Once the cause is fixed, an ordinary sync replaces the stand-in.
    (paper / "notes.md").write_text(FILES["notes.md"])
    rows = json.loads(run_cli("status", "--json", root=paper).stdout)
    assert [(row["id"], row["state"], row["reasons"]) for row in rows] == [
        ("method", "stale", ["emulator image"]),
        ("notes", "stale", ["placeholder", "content notes.md added"]),
    ]
    fixed = run_cli("sync", "--emulator", root=paper)
    assert fixed.exit_code == 0, fixed.stderr
    regenerated = read(paper / "figures.lock").record("notes").generated
    assert regenerated is not None
    assert regenerated.how == "emulator"


def test_a_failed_figure_is_a_warning_not_an_exit_1(paper: Path, run_cli: RunCli) -> None:
    (paper / "notes.md").write_text("# Notes\nOther text.\n")
    (paper / "figures/notes.png").write_bytes(b"a hand-made image")  # modified: kept, not a failure
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    result = run_cli("sync", "--best-effort", "--emulator", root=paper)
    assert result.exit_code == 0
    assert warnings(result) == []
    assert (paper / "figures/notes.png").read_bytes() == b"a hand-made image"


def test_best_effort_is_for_every_figure_named(paper: Path, run_cli: RunCli) -> None:
    result = run_cli("sync", "--best-effort", "nope", root=paper)
    assert result.exit_code == 0
    assert "no figure named 'nope'" in warnings(result)[0]


def test_no_network_is_a_quick_warning_not_a_minute_of_retries(
    paper: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The autouse fixture points the API at a loopback port where nothing listens.
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-test-0123456789")
    (paper / "notes.md").write_text("# Notes\nOther text.\n")
    started = time.monotonic()
    result = run_cli("sync", "--best-effort", root=paper)
    assert time.monotonic() - started < 8, "a build hook must not back off for long offline"
    assert result.exit_code == 0
    (line,) = warnings(result)
    assert line.startswith("figbuild: warning: 2 figures not synced (method, notes): ")
    assert "check your network connection" in line


def test_a_figure_whose_entry_is_invalid_is_named_in_a_warning(paper: Path, run_cli: RunCli) -> None:
    manifest = paper / "figures.yaml"
    manifest.write_text(manifest.read_text().replace("prompt: Notes.", "prompt: Notes.\n    resolution: 8K"))
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    result = run_cli("sync", "--best-effort", "--emulator", root=paper)
    assert result.exit_code == 0, result.stderr
    (line,) = warnings(result)
    assert line.startswith("figbuild: warning: notes: skipped (")
    assert "8K" in line
    method = read(paper / "figures.lock").record("method").generated
    assert method is not None
    assert method.how == "emulator"


def test_a_corrupt_lock_is_a_warning(paper: Path, run_cli: RunCli) -> None:
    (paper / "figures.lock").write_text("not json")
    result = run_cli("sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    (line,) = warnings(result)
    assert "is not a figbuild lock file" in line
