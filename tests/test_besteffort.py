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


def test_without_a_key_each_stale_figure_is_one_warning_and_keeps_its_image(
    paper: Path, run_cli: RunCli
) -> None:
    (paper / "sections/method.tex").write_text("\\section{Method}\nWe fuse twice.\n")
    before = all_files(paper)
    result = run_cli("sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    lines = warnings(result)
    assert len(lines) == 2, result.stderr
    assert "method: not synced (stale: placeholder; content sections/method.tex changed)" in lines[0]
    assert "PAPERBANANA_API_KEY is not set" in lines[0]
    assert "kept its image" in lines[0]
    after = all_files(paper)
    assert {k: v for k, v in after.items() if not k.startswith(".figbuild")} == {
        k: v for k, v in before.items() if not k.startswith(".figbuild")
    }


def test_a_figure_without_an_image_gets_a_placeholder(paper: Path, run_cli: RunCli) -> None:
    (paper / "figures/notes.png").unlink()
    result = run_cli("sync", "--best-effort", root=paper)
    assert result.exit_code == 0
    assert next(line for line in warnings(result) if "notes" in line).endswith("a placeholder stands in")
    assert (paper / "figures/notes.png").is_file()
    status = run_cli("status", "--json", root=paper)
    assert '"state": "stale"' in status.stdout


def test_with_a_key_and_no_credits_it_warns_and_spends_nothing(paper: Path, run_cli: RunCli) -> None:
    (paper / "notes.md").write_text("# Notes\nOther text.\n")
    result = run_cli("sync", "--best-effort", "--emulator", "--max-credits", "0", root=paper)
    assert result.exit_code == 0
    lines = warnings(result)  # both placeholders would be replaced by real images
    assert [line.split(":")[2].strip() for line in lines] == ["method", "notes"]
    assert all("--max-credits 0" in line for line in lines)
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
    lines = warnings(result)
    assert len(lines) == 2
    assert all("check your network connection" in line for line in lines)


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
