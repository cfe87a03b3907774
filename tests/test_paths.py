"""Keeping paths inside the paper root, symlinks resolved."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import vcs as vcs_module
from figbuild.paths import RootGuard


def test_inside_and_outside(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    (root / "sections").mkdir(parents=True)
    guard = RootGuard(root)
    assert guard.inside(root / "sections" / "a.tex")
    assert guard.inside(root / "not-yet-there.tex")
    assert guard.inside(root)
    assert not guard.inside(root / ".." / "secret.txt")
    assert not guard.inside(tmp_path / "paper-sibling" / "a.tex"), "a shared prefix is not inside"


def test_symlinks_are_followed(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "data.tex").write_text("x", encoding="utf-8")
    (root / "linked-dir").symlink_to(outside)
    (root / "linked-file.tex").symlink_to(outside / "data.tex")
    (root / "inner.tex").write_text("y", encoding="utf-8")
    (root / "alias.tex").symlink_to(root / "inner.tex")
    guard = RootGuard(root)
    assert not guard.inside(root / "linked-dir" / "data.tex")
    assert not guard.inside(root / "linked-file.tex")
    assert guard.inside(root / "alias.tex")
    assert guard.real(root / "linked-file.tex") == os.path.realpath(outside / "data.tex")


def test_a_root_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real-paper"
    real.mkdir()
    (tmp_path / "paper").symlink_to(real)
    guard = RootGuard(tmp_path / "paper")
    assert guard.inside(tmp_path / "paper" / "a.tex")
    assert guard.inside(real / "a.tex")


@given(
    st.lists(st.sampled_from(["a", "b.png", ".", "..", "", "x y", "é"]), max_size=5).map("/".join),
    st.sampled_from(["/", "/tmp/paper", "/tmp/paper/sub"]),
)
def test_joined_is_pathlibs_join(relative: str, root: str) -> None:
    from figbuild.paths import joined

    assert joined(Path(root), relative) == str(Path(root) / relative)


def test_a_paper_outside_git_asks_git_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .git above the paper and no GIT_* variable: git is not run (and would find nothing)."""
    import subprocess

    from figbuild import vcs

    for name in [name for name in os.environ if name.startswith("GIT_")]:
        monkeypatch.delenv(name)
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "a.png").write_bytes(b"x")
    assert vcs.ignored(paper, ["a.png"], "figures.yaml") == {}
    if os.path.lexists("/.git") or any(os.path.lexists(p / ".git") for p in tmp_path.parents):
        pytest.skip("the temporary folder is inside a git work tree")
    calls: list[object] = []

    def run(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise OSError("git is not installed")

    monkeypatch.setattr(subprocess, "run", run)
    assert vcs.ignored(paper, ["a.png"], "figures.yaml") == {}
    assert calls == []
    # Variables git reads for other work cannot make it find a repository.
    for name in ("GIT_SSL_CAINFO", "GIT_EDITOR", "GIT_AUTHOR_NAME", "GIT_SSH_COMMAND", "GIT_TRACE"):
        monkeypatch.setenv(name, "x")
    assert vcs.ignored(paper, ["a.png"], "figures.yaml") == {}
    assert calls == []
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    vcs.ignored(paper, ["a.png"], "figures.yaml")
    assert len(calls) == 1


_UNRELATED_GIT = [
    *sorted(vcs_module._UNRELATED),
    "GIT_SSL_CAINFO",
    "GIT_SSH_COMMAND",
    "GIT_HTTP_PROXY",
    "GIT_TRACE",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(st.sampled_from(_UNRELATED_GIT), min_size=1, max_size=4, unique=True),
    # Never an absolute path: GIT_TRACE=/path makes git write its trace to that file.
    value=st.sampled_from(["0", "1", "x", "Ann <a@example.org>"]),
)
def test_git_variables_that_skip_git_are_ones_git_answers_the_same_with(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, names: list[str], value: str
) -> None:
    """The shortcut (no git process outside a work tree despite these variables) answers
    what git itself answers with them set: outside a work tree, nothing is ignored; in one,
    git is still asked and its rule reported."""
    top = tmp_path_factory.mktemp("g")
    if os.path.lexists("/.git") or any(os.path.lexists(p / ".git") for p in top.parents):
        pytest.skip("the temporary folder is inside a git work tree")
    outside, inside = top / "outside", top / "inside"
    for paper in (outside, inside):
        paper.mkdir()
        (paper / "a.png").write_bytes(b"x")
        (paper / ".gitignore").write_text("*.png\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(inside)], check=True, env={**os.environ, "GIT_TRACE": "0"})
    with monkeypatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("GIT_")]:
            patch.delenv(name)
        for name in names:
            patch.setenv(name, value)
        shortcut = vcs_module.ignored(outside, ["a.png"], "figures.yaml")
        in_repo = vcs_module.ignored(inside, ["a.png"], "figures.yaml")
        patch.setattr(vcs_module, "_maybe_in_work_tree", lambda root: True)  # git asked always
        asked = vcs_module.ignored(outside, ["a.png"], "figures.yaml")
    assert shortcut == asked == {}
    assert in_repo == {"a.png": ".gitignore:1: *.png"}
