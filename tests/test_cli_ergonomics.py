"""What the CLI accepts and says: option placement, manifest discovery, JSON, completion,
git-ignored outputs, refused dry runs, and "up to date" only when true."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from figbuild.cli import cli, hoist_global_options

from .conftest import PaperFactory, simple_manifest

RunCli = Callable[..., Result]


def _paper(make_paper: PaperFactory, **figures: dict[str, object]) -> Path:
    return make_paper(
        simple_manifest(
            **(figures or {"a": {"prompt": "A {{ method }}"}, "b": {"prompt": "B", "resolution": "2K"}})
        )
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "-C", "p", "-q"], ["-C", "p", "-q", "status"]),
        (["-v", "sync", "--dry-run", "-vv", "a"], ["-v", "-vv", "sync", "--dry-run", "a"]),
        (["-C", "p", "status", "--json"], ["-C", "p", "status", "--json"]),
        (["sync", "-Cpaper", "--quiet", "--verbose"], ["-Cpaper", "--quiet", "--verbose", "sync"]),
        (["sync", "--", "-q"], ["sync", "--", "-q"]),
        (["--version"], ["--version"]),
        ([], []),
    ],
)
def test_global_options_may_follow_the_command(argv: list[str], expected: list[str]) -> None:
    assert hoist_global_options(argv) == expected


def test_status_with_options_after_the_command(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = _paper(make_paper)
    before = run_cli("-C", str(root), "status", "--json")
    after = run_cli("status", "--json", "-C", str(root), "-q")
    assert (before.exit_code, after.exit_code) == (0, 0)
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert [row["id"] for row in json.loads(after.stdout)] == ["a", "b"]


def test_the_manifest_is_found_from_a_subdirectory_but_not_past_dash_c(
    make_paper: PaperFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _paper(make_paper)
    (root / "sections" / "deep").mkdir(parents=True)
    monkeypatch.chdir(root / "sections" / "deep")
    found = CliRunner().invoke(cli, ["status", "--json"])
    assert found.exit_code == 0, found.output
    assert [row["id"] for row in json.loads(found.stdout)] == ["a", "b"]
    explicit = CliRunner().invoke(cli, ["-C", ".", "status"])
    assert explicit.exit_code == 2
    assert "no figures.yaml in ." in explicit.stderr


def test_sync_json_is_one_object(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = _paper(make_paper)
    first = run_cli("sync", "--placeholder", "--json", root=root)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "generated": ["a", "b"],
        "restored": [],
        "skipped": [],
        "failed": [],
        "credits_spent": 0,
        "balance": None,
    }
    (root / "figures" / "a.png").write_bytes(b"edited by hand")
    again = json.loads(run_cli("sync", "--placeholder", "--json", root=root).stdout)
    assert again["generated"] == []
    assert again["skipped"] == ["a"]


def test_a_dry_run_over_the_cap_says_it_would_be_refused(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = _paper(make_paper)
    over = run_cli("sync", "--dry-run", "--max-credits", "20", root=root)
    assert over.exit_code == 1
    assert over.stdout.splitlines()[-2:] == [
        "total: 2 to generate, 25 credits",
        "refused: the plan costs 25 credits, more than --max-credits 20; nothing was sent",
    ]
    within = run_cli("sync", "--dry-run", "--max-credits", "25", root=root)
    assert within.exit_code == 0
    assert "refused" not in within.stdout


def test_up_to_date_only_when_it_is(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = _paper(make_paper)
    run_cli("sync", "--placeholder", root=root)
    nothing = run_cli("sync", "--placeholder", root=root)
    assert nothing.exit_code == 0
    assert "every figure is up to date" not in nothing.stderr
    assert nothing.stderr.splitlines() == [
        "nothing to do, but 2 figures are not up to date:",
        "  a: stale (placeholder)",
        "  b: stale (placeholder)",
    ]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_status_and_sync_warn_about_outputs_git_ignores(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = _paper(make_paper, a={"prompt": "A", "output": "figures/a.pdf"}, b={"prompt": "B"})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("*.pdf\n", encoding="utf-8")
    status = run_cli("status", root=root)
    warning = (
        "warning: figures/a.pdf is ignored by git (.gitignore:1: *.pdf), so co-authors would not get it "
        "and pay for it again; un-ignore it (e.g. add '!figures/a.pdf' to .gitignore) or "
        "`git add -f figures/a.pdf`"
    )
    assert status.stderr.splitlines() == [warning]
    assert warning in run_cli("sync", "--placeholder", root=root).stderr
    (root / ".gitignore").write_text("*.pdf\n!figures/a.pdf\n", encoding="utf-8")
    assert run_cli("status", root=root).stderr == ""
    assert run_cli("-q", "status", root=root).stderr == ""


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_paper_its_repository_ignores_whole_gets_no_ignored_output_warning(
    make_paper: PaperFactory, run_cli: RunCli, tmp_path: Path
) -> None:
    """`figbuild example try-figbuild` in a clone that ignores /try-figbuild/: the paper
    is not the repository's, so its outputs being ignored tells its author nothing."""
    root = _paper(make_paper, a={"prompt": "A"})
    top = root.parent
    subprocess.run(["git", "init", "-q", str(top)], check=True)
    (top / ".gitignore").write_text(f"/{root.name}/\n", encoding="utf-8")
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    status = run_cli("status", root=root)
    assert status.exit_code == 0
    assert "ignored by git" not in status.stderr
    (top / ".gitignore").write_text(f"/{root.name}/figures/\n", encoding="utf-8")  # outputs only
    assert "figures/a.png is ignored by git" in run_cli("status", root=root).stderr


def test_figure_ids_complete_in_the_shell(make_paper: PaperFactory) -> None:
    root = _paper(make_paper, overview={"prompt": "O"}, other={"prompt": "P"}, teaser={"prompt": "T"})
    env = {
        **os.environ,
        "_FIGBUILD_COMPLETE": "bash_complete",
        "COMP_WORDS": "figbuild -C . sync o",
        "COMP_CWORD": "4",
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="figbuild", catch_exceptions=False)
    with_cwd = subprocess.run(
        [shutil.which("figbuild") or "figbuild"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert with_cwd.returncode == 0, with_cwd.stderr
    assert with_cwd.stdout.split() == ["plain,overview", "plain,other"]
    assert result.exit_code == 0


@pytest.mark.parametrize("command", ["show", "diff"])
def test_show_and_diff_complete_figure_ids(make_paper: PaperFactory, command: str) -> None:
    root = _paper(make_paper, overview={"prompt": "O"}, other={"prompt": "P"}, teaser={"prompt": "T"})
    env = {
        "_FIGBUILD_COMPLETE": "bash_complete",
        "COMP_WORDS": f"figbuild -C {root} {command} t",
        "COMP_CWORD": "4",
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="figbuild", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.split() == ["plain,teaser"]


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_dash_capital_v_is_the_version(flag: str) -> None:
    result = CliRunner().invoke(cli, [flag], prog_name="figbuild")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("figbuild, version ")
