"""`figbuild deps`: the files a build tool must watch, even when the manifest is broken."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from .conftest import PaperFactory, simple_manifest

RunCli = Callable[..., Result]


def test_lists_manifest_lock_and_every_content_file(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(
        simple_manifest(
            a={"prompt": "A.", "content": ["sections/*.tex", {"file": "paper.md", "section": "Intro"}]},
            b={"prompt": "B.", "content": "sections/b.tex"},
            c={"prompt": "C.", "mode": "standard"},
        ),
        {"sections/a.tex": "A\n", "sections/b.tex": "B\n", "paper.md": "# Intro\nHi.\n"},
    )
    result = run_cli("deps", root=root)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "figures.yaml",
        "figures.lock",
        "sections/a.tex",
        "sections/b.tex",
        "paper.md",
    ]


def test_a_broken_manifest_still_lists_itself(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper("version: 1\nfigures: [\n")
    result = run_cli("deps", root=root)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["figures.yaml", "figures.lock"]


def test_a_missing_content_file_leaves_out_only_that_file(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(
        simple_manifest(a={"prompt": "A.", "content": ["gone.tex", "here.tex"]}), {"here.tex": "Here.\n"}
    )
    result = run_cli("deps", root=root)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["figures.yaml", "figures.lock", "here.tex"]


def test_no_manifest_is_a_usage_error(tmp_path: Path, run_cli: RunCli) -> None:
    assert run_cli("deps", root=tmp_path).exit_code == 2


def test_input_files_are_listed_too(make_paper: PaperFactory, run_cli: RunCli) -> None:
    # An edit to an \input-ed section alone must rebuild the paper.
    root = make_paper(
        simple_manifest(a={"prompt": "A.", "content": {"file": "main.tex", "section": "Method"}}),
        {
            "main.tex": "\\section{Method}\n\\input{sections/method}\n\\section{End}\nx\n",
            "sections/method.tex": "The method, \\input{sections/detail}.\n",
            "sections/detail.tex": "in detail\n",
        },
    )
    result = run_cli("deps", root=root)
    assert result.stdout.splitlines() == [
        "figures.yaml",
        "figures.lock",
        "main.tex",
        "sections/method.tex",
        "sections/detail.tex",
    ]
