"""GitHub Actions: `validate --json`, annotations on files and lines, the step summary, outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from figbuild import github
from figbuild.emulator import Emulator

from .conftest import PaperFactory, simple_manifest

RunCli = Callable[..., Result]

BAD = """\
version: 1
figures:
  overview:
    prompt: An overview
    resolution: 5K
  method:
    prompt: "{{ missing }}"
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The variables a GitHub runner sets for a step, with their files."""
    workspace = tmp_path
    files = {"summary": tmp_path / "summary.md", "output": tmp_path / "output.txt"}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    return files


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())


def annotations(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::")]


def test_validate_json_gives_every_problem_as_an_object(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(BAD)
    result = run_cli("validate", "--json", root=root)
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["valid"] is False
    by_figure = {problem["figure"]: problem for problem in document["problems"]}
    assert set(by_figure) == {"overview", "method"}
    assert by_figure["overview"] == {
        "file": "figures.yaml",
        "line": 5,
        "figure": "overview",
        "key": "resolution",
        "message": by_figure["overview"]["message"],
        "hint": by_figure["overview"]["hint"],
    }
    assert "5K" in by_figure["overview"]["message"]
    assert by_figure["method"]["line"] in (6, 7)
    assert "missing" in by_figure["method"]["message"]


def test_validate_json_of_a_valid_paper(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A"}))
    result = run_cli("validate", "--json", root=root)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "manifest": str(root / "figures.yaml"),
        "valid": True,
        "figures": 1,
        "problems": [],
        "warnings": [],
    }


@pytest.mark.usefixtures("runner")
def test_validate_in_actions_annotates_the_lines_of_a_paper_in_a_subfolder(
    make_paper: PaperFactory, run_cli: RunCli, tmp_path: Path, runner: dict[str, Path]
) -> None:
    root = make_paper(BAD, root=tmp_path / "paper")
    result = run_cli("validate", root=root)
    assert result.exit_code == 2
    found = annotations(result.stdout)
    assert len(found) == 2, result.stdout
    overview = next(line for line in found if "overview" in line)
    assert overview.startswith(
        "::error file=paper/figures.yaml,line=5,title=figbuild%3A figure 'overview'%2C"
    )
    assert "figbuild: error: 2 problems" in result.stderr, "the log still says it in words"
    assert outputs(runner["output"]) == {"valid": "false", "problems": "2"}


def _stale_paper(make_paper: PaperFactory, tmp_path: Path) -> Path:
    """Figure a is missing; b is frozen with an image, which --check accepts."""
    return make_paper(
        simple_manifest(a={"prompt": "A"}, b={"prompt": "B", "frozen": True}),
        files={"figures/b.png": "a person's drawing"},
        root=tmp_path / "paper",
    )


def test_status_check_in_actions_annotates_what_is_not_fresh_and_writes_the_summary(
    make_paper: PaperFactory, run_cli: RunCli, tmp_path: Path, runner: dict[str, Path]
) -> None:
    root = _stale_paper(make_paper, tmp_path)
    result = run_cli("status", "--check", root=root)
    assert result.exit_code == 1
    (annotation,) = annotations(result.stdout)
    assert annotation.startswith(
        "::error file=paper/figures.yaml,line=5,title=figbuild%3A figure 'a' is missing::"
    )
    assert "a  missing" in result.stdout, "the table is still printed for the log"
    summary = runner["summary"].read_text(encoding="utf-8")
    assert "| figure | state | output | reasons |" in summary
    assert "| `a` | ❌ missing |" in summary
    assert outputs(runner["output"])["fresh"] == "false"
    assert outputs(runner["output"])["not-fresh"] == "a"


def test_plain_status_in_actions_only_warns(
    make_paper: PaperFactory, run_cli: RunCli, tmp_path: Path, runner: dict[str, Path]
) -> None:
    result = run_cli("status", root=_stale_paper(make_paper, tmp_path))
    assert result.exit_code == 0
    assert [line.split(" ", 1)[0] for line in annotations(result.stdout)] == ["::warning"]


def test_status_json_in_actions_stays_json(
    make_paper: PaperFactory, run_cli: RunCli, tmp_path: Path, runner: dict[str, Path]
) -> None:
    result = run_cli("status", "--json", "--check", root=_stale_paper(make_paper, tmp_path))
    assert [row["id"] for row in json.loads(result.stdout)] == ["a", "b"]
    assert not runner["summary"].exists()


def test_format_text_turns_actions_off(
    make_paper: PaperFactory, run_cli: RunCli, tmp_path: Path, runner: dict[str, Path]
) -> None:
    result = run_cli("status", "--check", "--format", "text", root=_stale_paper(make_paper, tmp_path))
    assert annotations(result.stdout) == []
    assert not runner["summary"].exists()


def test_sync_in_actions_reports_the_credits_spent(
    make_paper: PaperFactory,
    run_cli: RunCli,
    tmp_path: Path,
    runner: dict[str, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAPERBANANA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-actions-test")
    root = make_paper(simple_manifest(a={"prompt": "A", "mode": "standard"}), root=tmp_path / "paper")
    result = run_cli("sync", "--json", root=root)
    assert result.exit_code == 0, result.stderr
    spent = json.loads(result.stdout)["credits_spent"]
    assert spent > 0
    assert f"**{spent} credits spent**" in runner["summary"].read_text(encoding="utf-8")
    assert outputs(runner["output"]) == {"credits-spent": str(spent), "generated": "a", "failed": ""}


@given(st.text())
def test_an_annotation_is_one_line_whatever_its_message(message: str) -> None:
    text = str(github.Annotation("error", message, file="a,b:c.yaml", line=3, title="x: y"))
    assert "\n" not in text
    assert "\r" not in text
    head, _, body = text[2:].partition("::")
    assert head == "error file=a%2Cb%3Ac.yaml,line=3,title=x%3A y"
    decoded = re.sub("%(25|0A|0D)", lambda m: {"25": "%", "0A": "\n", "0D": "\r"}[m.group(1)], body)
    assert decoded == message


def test_dry_run_json_carries_the_plan_and_its_cost_for_ci_to_gate(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A"}, b={"prompt": "B", "resolution": "2K"}))
    text = run_cli("sync", "--dry-run", root=root).stdout
    total = int(re.search(r"total: 2 to generate, (\d+) credits", text).group(1))  # type: ignore[union-attr]
    document = json.loads(run_cli("sync", "--dry-run", "--json", root=root).stdout)
    assert document["dry_run"] is True
    assert document["total"] == total > 0
    assert [(row["id"], row["action"], row["state"]) for row in document["figures"]] == [
        ("a", "generate", "missing"),
        ("b", "generate", "missing"),
    ]
    assert sum(row["cost"] for row in document["figures"]) == total
