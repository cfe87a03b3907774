"""Co-authors on branches, with real git: two branches regenerate the same figure (and
another figure each); the merge driver merges figures.lock, and the image left out goes
to history. Without the driver, the conflict is named as one, and resolving it pays nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from figbuild import lockfile
from figbuild.lockfile import Generated, Lock, Pending, Record
from figbuild.mergelock import OURS, THEIRS, merge

from .conftest import EmulatorFactory, simple_manifest
from .test_history import posts, sync

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SECTIONS = """\\section{A}
The first method, in its first words.

unchanged line one
unchanged line two
unchanged line three

\\section{B}
The second figure's prose.

unchanged line four
unchanged line five
unchanged line six

\\section{C}
The third figure's prose.
"""


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check)


def edit(paper: Path, old: str, new: str) -> None:
    path = paper / "paper.tex"
    path.write_text(path.read_text().replace(old, new))


@pytest.fixture
def branches(
    tmp_path: Path, make_emulator: EmulatorFactory, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A repo whose paper (in ``paper/``) has figures a, b, c; branch ``one`` rewords A and B,
    branch ``two`` rewords A the same way and C; each synced (with its own store, as two
    co-authors' machines) and committed. ``one`` is checked out."""
    server = make_emulator(latency=0.02)
    repo = tmp_path / "repo"
    paper = repo / "paper"
    paper.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "T")
    figures = {
        name: {"prompt": f"Figure {name}.", "content": {"file": "paper.tex", "section": name.upper()}}
        for name in ("a", "b", "c")
    }
    (paper / "figures.yaml").write_text(yaml.safe_dump(simple_manifest(**figures), sort_keys=False))
    (paper / "paper.tex").write_text(SECTIONS)
    (paper / ".gitignore").write_text(".figbuild/\n")
    stores = {name: tmp_path / f"store-{name}" for name in ("main", "one", "two")}
    monkeypatch.setenv("FIGBUILD_STORE", str(stores["main"]))
    assert sorted(sync(server, paper).generated) == ["a", "b", "c"]
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    for name, other in (("one", "B"), ("two", "C")):
        git(repo, "checkout", "-q", "-b", name, "main")
        shutil.copytree(stores["main"], stores[name])
        monkeypatch.setenv("FIGBUILD_STORE", str(stores[name]))
        edit(paper, "The first method, in its first words.", "The first method, reworded on both branches.")
        edit(
            paper,
            f"The {'second' if other == 'B' else 'third'} figure's prose.",
            f"Prose of {other}, by {name}.",
        )
        result = sync(server, paper)
        assert sorted(result.generated) == sorted(["a", other.lower()])
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"{name}: reword A and {other}")
    git(repo, "checkout", "-q", "one")
    monkeypatch.setenv("FIGBUILD_STORE", str(stores["one"]))
    return {"server": server, "repo": repo, "paper": paper}


def states(run_cli: Any, paper: Path) -> dict[str, str]:
    result = run_cli("status", "--json", root=paper)
    assert result.exit_code == 0, result.output
    return {row["id"]: row["state"] for row in json.loads(result.stdout)}


def blob(repo: Path, revision: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{revision}:{path}"], capture_output=True, check=True
    ).stdout


def test_the_merge_driver_merges_the_lock_and_keeps_the_other_image_in_history(
    branches: dict[str, Any], run_cli: Any
) -> None:
    repo, paper, server = branches["repo"], branches["paper"], branches["server"]
    installed = run_cli("init", "--git", root=paper)
    assert installed.exit_code == 0, installed.output
    assert "figures.lock merge=figbuild" in (paper / ".gitattributes").read_text()
    assert git(repo, "config", "merge.figbuild.driver").stdout.strip() == "figbuild merge-lock %O %A %B"
    # The console script may not be on PATH under the test runner: the same command, by module.
    git(repo, "config", "merge.figbuild.driver", f"{sys.executable} -m figbuild merge-lock %O %A %B")
    git(repo, "add", "paper/.gitattributes")
    git(repo, "commit", "-qm", "figbuild merges the lock")
    theirs_a = blob(repo, "two", "paper/figures/a.png")
    ours_a = blob(repo, "one", "paper/figures/a.png")
    assert theirs_a != ours_a
    before = posts(server)

    merged = git(repo, "merge", "--no-edit", "two", check=False)
    # The image itself is a binary conflict: git leaves ours in the work tree.
    assert "figures/a.png" in merged.stdout + merged.stderr
    text = (paper / "figures.lock").read_text()
    assert "<<<<<<<" not in text
    assert ">>>>>>>" not in text
    git(repo, "add", "paper/figures/a.png", "paper/figures.lock")
    git(repo, "commit", "-qm", "merge two")

    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh", "c": "fresh"}
    assert run_cli("status", "--check", root=paper).exit_code == 0
    assert (paper / "figures/a.png").read_bytes() == ours_a
    assert (paper / "figures/c.png").read_bytes() == blob(repo, "two", "paper/figures/c.png")
    logged = run_cli("log", "a", "--json", root=paper)
    versions = json.loads(logged.stdout)["figures"]["a"]
    other = [v for v in versions if v["changed"] == "the other side of a git merge"]
    assert len(other) == 1, versions
    assert other[0]["how"] == "candidate", versions
    picked = run_cli("pick", "a", str(other[0]["candidate"]), root=paper)
    assert picked.exit_code == 0, picked.output
    assert (paper / "figures/a.png").read_bytes() == theirs_a
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh", "c": "fresh"}
    assert posts(server) == before, "merging and picking sent nothing"


def test_without_the_driver_a_conflicted_lock_is_a_merge_conflict_and_resolving_it_pays_nothing(
    branches: dict[str, Any], run_cli: Any
) -> None:
    repo, paper, server = branches["repo"], branches["paper"], branches["server"]
    before = posts(server)
    merged = git(repo, "merge", "--no-edit", "two", check=False)
    assert merged.returncode != 0
    assert "<<<<<<<" in (paper / "figures.lock").read_text()

    status = run_cli("status", root=paper)
    assert status.exit_code == 2
    assert "merge conflict" in status.output
    assert "corrupt" not in status.output
    assert "git checkout --theirs figures.lock" in status.output
    assert "delete" not in status.output
    assert "--force" not in status.output

    # The resolution the hint gives: one side's lock, then sync.
    git(repo, "checkout", "--theirs", "paper/figures.lock")
    git(repo, "add", "paper/figures.lock", "paper/figures/a.png")
    synced = sync(server, paper)
    assert (synced.generated, synced.failed, synced.credits_spent) == ([], [], 0)
    assert posts(server) == before, "the images at hand cost nothing"
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh", "c": "fresh"}


def test_the_docs_one_liner_installs_the_driver(tmp_path: Path, run_cli: Any) -> None:
    from .test_docs import recipe

    command = recipe("git-merge").split()
    assert command == ["figbuild", "init", "--git"]
    git(tmp_path, "init", "-q")
    result = run_cli(*command[1:], root=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figures.yaml").exists()
    assert (tmp_path / ".gitattributes").read_text() == "figures.lock merge=figbuild\n"
    assert git(tmp_path, "config", "merge.figbuild.driver").stdout.strip() == "figbuild merge-lock %O %A %B"
    again = run_cli(*command[1:], root=tmp_path)  # once is enough; twice changes nothing
    assert again.exit_code == 0
    assert (tmp_path / ".gitattributes").read_text().count("merge=figbuild") == 1


def test_without_the_driver_our_lock_too_pays_nothing_and_reads_true(
    branches: dict[str, Any], run_cli: Any
) -> None:
    repo, paper, server = branches["repo"], branches["paper"], branches["server"]
    before = posts(server)
    assert git(repo, "merge", "--no-edit", "two", check=False).returncode != 0
    git(repo, "checkout", "--ours", "paper/figures.lock")
    git(repo, "add", "paper/figures.lock", "paper/figures/a.png")
    # c is the other side's image (git merged it); our lock knows c's older one only.
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh", "c": "fresh"}
    synced = sync(server, paper)
    assert (synced.generated, synced.failed, synced.credits_spent) == ([], [], 0)
    assert posts(server) == before
    git(repo, "commit", "-qm", "merge two, our lock")
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh", "c": "fresh"}


# -- the merge itself, without git ----------------------------------------------


def _generated(sha: str, fingerprint: str = "sha256:f", output: str = "figures/a.png") -> Generated:
    return Generated(
        fingerprint, {"prompt": "p"}, output, sha * 64, "2026-01-01T00:00:00Z", task_id=f"t-{sha}"
    )


def _pending(task: str) -> Pending:
    return Pending(task, "sha256:f", {"prompt": "p"}, "figures/a.png", 10, f"2026-01-0{task[-1]}T00:00:00Z")


def test_a_figure_changed_on_one_side_takes_that_sides_record() -> None:
    base = Lock({"a": Record(_generated("0")), "b": Record(_generated("1", output="figures/b.png"))})
    ours = Lock({"a": Record(_generated("2")), "b": base.figures["b"]})
    theirs = Lock({"a": base.figures["a"], "b": Record(_generated("3", output="figures/b.png"))})
    merged = merge(base, ours, theirs)
    assert merged.lock.record("a") == ours.figures["a"]
    assert merged.lock.record("b") == theirs.figures["b"]
    assert merged.others == ()


def test_a_figure_regenerated_on_both_sides_keeps_ours_and_names_theirs() -> None:
    base = Lock({"a": Record(_generated("0"))})
    ours, theirs = Lock({"a": Record(_generated("2"))}), Lock({"a": Record(_generated("3"))})
    merged = merge(base, ours, theirs)
    assert merged.lock.record("a").generated == _generated("2")
    [other] = merged.others
    assert (other.figure_id, other.generated, other.side) == ("a", _generated("3"), THEIRS)


def test_when_our_side_kept_the_base_image_git_takes_theirs_and_ours_goes_to_history() -> None:
    moved = Generated("sha256:g", {"prompt": "q"}, "figures/a.png", "0" * 64, "2026-01-02T00:00:00Z")
    base = Lock({"a": Record(_generated("0"))})
    merged = merge(base, Lock({"a": Record(moved)}), Lock({"a": Record(_generated("3"))}))
    assert merged.lock.record("a").generated == _generated("3")
    assert [o.side for o in merged.others] == [OURS]


def test_pending_tasks_of_both_sides_are_kept_and_collected_ones_dropped() -> None:
    base = Lock({"a": Record(_generated("0"), pending=(_pending("t1"),))})
    ours = Lock({"a": Record(_generated("2"), pending=(_pending("t2"),))})  # t1 collected here
    theirs = Lock({"a": Record(_generated("0"), pending=(_pending("t1"), _pending("t3")))})
    merged = merge(base, ours, theirs).lock.record("a")
    assert [p.task_id for p in merged.pending] == ["t2", "t3"]


def test_the_merged_lock_reads_back() -> None:
    base = Lock({"a": Record(_generated("0"))})
    merged = merge(base, Lock({"a": Record(_generated("2"))}), Lock({"a": Record(_generated("3"))})).lock
    assert lockfile.loads(lockfile.dumps(merged), Path("figures.lock")) == merged
