"""History end to end, over loopback against the emulator, each case on its own ledger:
every paid image is kept, reverts and moves cost nothing, and the author chooses."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.store import Store

from .conftest import EmulatorFactory, PaperFactory, simple_manifest

FAST = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))
FILES = {
    "sections/a.tex": "\\section{A}\nThe first method.\n",
    "sections/b.tex": "\\section{B}\nThe other.\n",
}


def sync(server: Emulator, root: Path, **options: Any) -> engine.SyncResult:
    """One `sync` against ``server`` as the real API (its images are real, not stand-ins)."""
    with Client(Settings(base_url=server.base_url, key="sk-history")) as client:
        return engine.sync(Paper.open(root), ApiBackend(client, FAST), NullReporter(), **options)


def posts(server: Emulator) -> int:
    return server.count("POST", "/api/v1/generate")


def manifest(root: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((root / "figures.yaml").read_text())
    return document


def write_manifest(root: Path, document: dict[str, Any]) -> None:
    (root / "figures.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def states(run_cli: Any, root: Path) -> dict[str, str]:
    result: Result = run_cli("status", "--json", root=root)
    return {row["id"]: row["state"] for row in json.loads(result.stdout)}


@pytest.fixture
def server(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.05)


@pytest.fixture
def paper(make_paper: PaperFactory, server: Emulator) -> Path:
    root = make_paper(
        simple_manifest(
            a={"prompt": "Figure A of {{ method }}.", "content": "sections/a.tex"},
            b={"prompt": "Figure B.", "content": "sections/b.tex"},
        ),
        FILES,
    )
    result = sync(server, root)
    assert sorted(result.generated) == ["a", "b"]
    assert posts(server) == 2
    return root


def test_a_reverted_edit_puts_the_first_image_back_for_nothing(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    first = (paper / "figures/a.png").read_bytes()
    (paper / "sections/a.tex").write_text("\\section{A}\nThe first method, edited.\n")
    assert sync(server, paper).generated == ["a"]
    assert (paper / "figures/a.png").read_bytes() != first
    (paper / "sections/a.tex").write_text(FILES["sections/a.tex"])
    reverted = sync(server, paper)
    assert (reverted.generated, reverted.restored, reverted.credits_spent) == ([], ["a"], 0)
    assert posts(server) == 3, "the revert sent nothing"
    assert (paper / "figures/a.png").read_bytes() == first
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh"}


def test_a_renamed_figure_costs_nothing(paper: Path, server: Emulator, run_cli: Any) -> None:
    document = manifest(paper)
    document["figures"]["alpha"] = document["figures"].pop("a")
    write_manifest(paper, document)
    result = sync(server, paper)
    assert (result.restored, result.credits_spent, posts(server)) == (["alpha"], 0, 2)
    assert (paper / "figures/alpha.png").read_bytes() == (paper / "figures/a.png").read_bytes()
    assert states(run_cli, paper) == {"b": "fresh", "alpha": "fresh", "a": "orphaned"}


def test_a_new_output_dir_costs_nothing_and_fills_the_new_place(paper: Path, server: Emulator) -> None:
    document = manifest(paper)
    document["output_dir"] = "img"
    write_manifest(paper, document)
    result = sync(server, paper)
    assert (sorted(result.restored), result.credits_spent, posts(server)) == (["a", "b"], 0, 2)
    for figure in ("a", "b"):
        assert (paper / f"img/{figure}.png").read_bytes() == (paper / f"figures/{figure}.png").read_bytes()


def test_a_moved_output_is_adopted_when_the_manifest_follows(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    (paper / "art").mkdir()
    shutil.move(paper / "figures/b.png", paper / "art/b.png")  # git mv, as far as files go
    document = manifest(paper)
    document["figures"]["b"]["output"] = "art/b.png"
    write_manifest(paper, document)
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh"}
    result = sync(server, paper)
    assert (result.generated, result.credits_spent, posts(server)) == ([], 0, 2)
    assert read(paper / "figures.lock").record("b").generated.output == "art/b.png"  # type: ignore[union-attr]


def test_candidates_are_paid_once_each_and_picked_for_free(
    make_paper: PaperFactory, server: Emulator, run_cli: Any
) -> None:
    root = make_paper(simple_manifest(c={"prompt": "Three ways.", "candidates": 3}))
    dry = run_cli("sync", "--dry-run", root=root)
    assert "3 candidates, 30 credits" in dry.stdout
    result = sync(server, root)
    assert (result.generated, result.credits_spent) == (["c"], 30)
    assert (posts(server), server.credits_charged) == (3, 30)
    stored = Store.at(root).lookup(read(root / "figures.lock").record("c").generated.fingerprint)  # type: ignore[union-attr]
    assert sorted(entry.candidate or 0 for entry in stored) == [1, 2, 3]
    written = read(root / "figures.lock").record("c").generated
    assert written is not None
    other = next(number for number in (1, 2, 3) if number != written.candidate)
    before = (root / "figures/c.png").read_bytes()
    picked = run_cli("pick", "c", str(other), root=root)
    assert picked.exit_code == 0, picked.output
    assert (root / "figures/c.png").read_bytes() != before
    assert read(root / "figures.lock").record("c").generated.candidate == other  # type: ignore[union-attr]
    assert (posts(server), server.credits_charged) == (3, 30), "picking sent nothing"
    assert states(run_cli, root) == {"c": "fresh"}


def test_an_accepted_hand_edit_is_fresh_until_an_input_changes(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    (paper / "figures/a.png").write_bytes((paper / "figures/b.png").read_bytes())  # a hand edit
    assert run_cli("status", "--check", root=paper).exit_code == 1
    assert run_cli("accept", "a", root=paper).exit_code == 0
    assert run_cli("status", "--check", root=paper).exit_code == 0
    (paper / "sections/a.tex").write_text("\\section{A}\nNew prose.\n")
    assert states(run_cli, paper)["a"] == "stale"
    assert posts(server) == 2


def test_force_over_a_hand_edit_keeps_it_in_history(paper: Path, server: Emulator, run_cli: Any) -> None:
    edit = b"\x89PNG\r\n\x1a\n" + b"a hand edit, not a real PNG but bytes worth keeping"
    (paper / "figures/a.png").write_bytes(edit)
    forced = sync(server, paper, ids=("a",), force=True)
    assert forced.generated == ["a"]
    assert (paper / "figures/a.png").read_bytes() != edit
    log = run_cli("log", "a", "--json", root=paper)
    versions = json.loads(log.stdout)["figures"]["a"]
    assert [v["how"] for v in versions] == ["generated", "hand-edit", "generated"]
    hand = next(v["version"] for v in versions if v["how"] == "hand-edit")
    assert run_cli("restore", "a", str(hand), root=paper).exit_code == 0
    assert (paper / "figures/a.png").read_bytes() == edit
    assert states(run_cli, paper)["a"] == "fresh", "restored and pinned to the current inputs"


def test_a_removed_figure_is_orphaned_and_prune_removes_only_it(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    document = manifest(paper)
    del document["figures"]["b"]
    write_manifest(paper, document)
    assert sync(server, paper).plan.empty
    assert states(run_cli, paper) == {"a": "fresh", "b": "orphaned"}
    assert run_cli("status", "--check", root=paper).exit_code == 0
    kept = (paper / "figures/b.png").read_bytes()
    pruned = run_cli("prune", root=paper)
    assert pruned.exit_code == 0
    assert "b: removed (kept in history) figures/b.png" in pruned.stderr
    assert not (paper / "figures/b.png").exists()
    assert (paper / "figures/a.png").exists()
    assert set(read(paper / "figures.lock").figures) == {"a"}
    assert any(entry.sha256 for entry in Store.at(paper).history("b") if Store.at(paper).read(entry) == kept)


def test_log_lists_versions_and_the_ledger(paper: Path, server: Emulator, run_cli: Any) -> None:
    (paper / "sections/a.tex").write_text("\\section{A}\nEdited.\n")
    sync(server, paper)
    result = run_cli("log", root=paper)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "a:"
    assert lines[1].startswith(" *  2  ")
    assert "generated, task task-" in lines[1]
    assert "content sections/a.tex changed" in lines[1]
    assert lines[2].startswith("    1  ")
    assert lines[-1] == "credits in total: 30"
    assert "credits by figure:" in lines
    assert "  a: 20" in lines


def _sync_process(root: str, base_url: str) -> None:
    with Client(Settings(base_url=base_url, key="sk-history")) as client:
        engine.sync(Paper.open(Path(root)), ApiBackend(client, FAST), NullReporter())


def test_two_papers_syncing_at_once_share_one_store_cleanly(
    make_paper: PaperFactory, server: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-store"
    monkeypatch.setenv("FIGBUILD_STORE", str(shared))
    figures = {f"f{i}": {"prompt": f"Figure {i}."} for i in range(6)}
    one = make_paper(simple_manifest(**figures), root=tmp_path / "one")
    two = make_paper(simple_manifest(**figures), root=tmp_path / "two")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_sync_process, args=(str(p), server.base_url)) for p in (one, two)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    warnings: list[object] = []
    store = Store(shared, on_warning=warnings.append)
    entries = store.entries()
    assert warnings == []
    assert len(entries) == 12, "every image of both papers is indexed"
    objects = [p for p in (shared / "objects").rglob("*") if p.is_file()]
    assert len(objects) == len({entry.sha256 for entry in entries}), "each image stored once"
    assert all(store.verify(entry) for entry in entries)


def test_a_version_1_lock_keeps_every_figure_fresh(paper: Path, run_cli: Any) -> None:
    # figures.lock as the figbuild before history wrote it: format 1, a placeholder flag.
    document = json.loads((paper / "figures.lock").read_text())
    document["figbuild_lock"] = 1
    for entry in document["figures"].values():
        generated = entry["generated"]
        generated["placeholder"] = generated.pop("how") == "placeholder"
        del generated["candidate"]
    (paper / "figures.lock").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    assert states(run_cli, paper) == {"a": "fresh", "b": "fresh"}
    assert run_cli("status", "--check", root=paper).exit_code == 0


def test_forced_candidates_replace_the_image_of_the_same_request(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    before = (paper / "figures/a.png").read_bytes()
    result = sync(server, paper, ids=("a",), force=True, candidates=2)
    assert (result.generated, result.credits_spent) == (["a"], 20)
    assert (paper / "figures/a.png").read_bytes() != before, "one of the new candidates is in place"
    assert read(paper / "figures.lock").record("a").generated.candidate in (1, 2)  # type: ignore[union-attr]
