"""History tells the truth: a stand-in stays provisional whatever brings it back, the
credit ledger counts only real charges, status and the plan agree on what a sync costs,
missing candidates are made, moved outputs are named, formats are respected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator
from figbuild.history import gc
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.placeholder import draw
from figbuild.report import NullReporter
from figbuild.store import How, Store

from .conftest import EmulatorFactory, PaperFactory, simple_manifest
from .test_history import FAST, FILES, manifest, posts, states, sync, write_manifest


def emulate(server: Emulator, root: Path, **options: Any) -> engine.SyncResult:
    """`sync --emulator`: the emulator's images, recorded as the stand-ins they are."""
    with Client(Settings(base_url=server.base_url, key="sk-history")) as client:
        backend = ApiBackend(client, FAST, makes="emulator")
        return engine.sync(Paper.open(root), backend, NullReporter(), **options)


@pytest.fixture
def server(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.02)


@pytest.fixture
def paper(make_paper: PaperFactory) -> Path:
    return make_paper(
        simple_manifest(
            a={"prompt": "Figure A of {{ method }}.", "content": "sections/a.tex"},
            b={"prompt": "Figure B.", "content": "sections/b.tex"},
        ),
        FILES,
    )


def check(run_cli: Any, root: Path) -> int:
    code: int = run_cli("status", "--check", root=root).exit_code
    return code


# -- provisional stays provisional -------------------------------------------------


def test_restoring_an_emulator_image_keeps_it_provisional(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    emulate(server, paper)
    sync(server, paper)  # the real images replace the emulator's
    assert check(run_cli, paper) == 0
    versions = json.loads(run_cli("log", "a", "--json", root=paper).stdout)["figures"]["a"]
    stand_in = next(v["version"] for v in versions if v["how"] == "emulator")
    assert run_cli("restore", "a", str(stand_in), root=paper).exit_code == 0
    assert states(run_cli, paper)["a"] == "stale"
    assert check(run_cli, paper) == 1, "CI must not ship the emulator's card"
    again = sync(server, paper)
    assert again.restored == ["a"] or again.generated == ["a"], "a real sync replaces it"
    assert check(run_cli, paper) == 0


def test_accept_right_after_an_emulator_sync_keeps_it_provisional(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    emulate(server, paper)
    assert run_cli("accept", "a", root=paper).exit_code == 0
    assert states(run_cli, paper)["a"] == "stale"
    assert read(paper / "figures.lock").record("a").generated.how == "emulator"  # type: ignore[union-attr]


def test_the_ledger_counts_only_what_a_real_api_charged(paper: Path, server: Emulator, run_cli: Any) -> None:
    emulate(server, paper)
    pretend = server.credits_charged
    sync(server, paper)
    real = server.credits_charged - pretend
    logged = json.loads(run_cli("log", "--json", root=paper).stdout)["ledger"]
    assert (logged["total"], logged["pretend"]) == (real, pretend)
    text = run_cli("log", root=paper).stdout
    assert f"credits in total: {real}" in text
    assert f"not charged): {pretend}" in text


# -- one cost ------------------------------------------------------------------------


def costs(run_cli: Any, root: Path) -> tuple[int, int, int, int]:
    """What status, status --json, sync --dry-run and sync --dry-run --json say a sync costs."""
    table = run_cli("status", root=root).stdout.splitlines()[-1]
    rows = json.loads(run_cli("status", "--json", root=root).stdout)
    dry = run_cli("sync", "--dry-run", root=root).stdout.splitlines()
    plan = json.loads(run_cli("sync", "--dry-run", "--json", root=root).stdout)
    total_line = next(line for line in dry if line.startswith("total:"))
    return (
        int(table.rsplit("cost ", 1)[1].split()[0]),
        sum(row["cost"] for row in rows),
        int(total_line.rsplit(", ", 1)[1].split()[0]),
        plan["total"],
    )


def test_a_renamed_figure_reads_missing_in_history_at_0_credits(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    sync(server, paper)
    document = manifest(paper)
    document["figures"]["alpha"] = document["figures"].pop("a")
    write_manifest(paper, document)
    table = run_cli("status", root=paper).stdout
    assert "missing (in history)" in table
    assert "never generated" not in table
    assert costs(run_cli, paper) == (0, 0, 0, 0)


def test_after_an_output_dir_move_status_and_the_plan_both_say_0(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    sync(server, paper)
    document = manifest(paper)
    document["output_dir"] = "img"
    write_manifest(paper, document)
    assert costs(run_cli, paper) == (0, 0, 0, 0)


def test_every_state_at_once_costs_the_same_everywhere(
    make_paper: PaperFactory, server: Emulator, run_cli: Any
) -> None:
    names = ["fresh", "stale", "stale_hist", "missing_hist", "pending", "modified", "orphan", "moved"]
    figures = {name: {"prompt": f"Figure {name}.", "content": f"s/{name}.tex"} for name in names}
    figures["missing"] = {"prompt": "Never made."}
    root = make_paper(simple_manifest(**figures), {f"s/{name}.tex": f"Text of {name}.\n" for name in names})
    made = {name: figures.pop(name) for name in ("missing",)}
    write_manifest(root, simple_manifest(**figures))
    sync(server, root)
    figures.update(made)
    # stale_hist: an edit and back again, its first image in history
    (root / "s/stale_hist.tex").write_text("Edited once.\n")
    sync(server, root, ids=("stale_hist",))
    (root / "s/stale_hist.tex").write_text("Text of stale_hist.\n")
    (root / "s/stale.tex").write_text("A new text.\n")
    (root / "figures/missing_hist.png").unlink()
    (root / "figures/modified.png").write_bytes((root / "figures/fresh.png").read_bytes())
    figures["moved"]["output"] = "elsewhere/moved.png"
    del figures["orphan"]
    write_manifest(root, simple_manifest(**figures))
    sync(server, root, ids=("moved",))  # restored at its new place: the old file is left behind
    _make_pending(root, "pending")
    rows = {row["id"]: row for row in json.loads(run_cli("status", "--json", root=root).stdout)}
    assert {i: r["state"] for i, r in rows.items()} == {
        "fresh": "fresh",
        "stale": "stale",
        "stale_hist": "stale",
        "missing_hist": "missing",
        "pending": "pending",
        "modified": "modified",
        "moved": "fresh",
        "missing": "missing",
        "orphan": "orphaned",
    }
    assert rows["stale_hist"]["in_history"]
    assert rows["missing_hist"]["in_history"]
    assert rows["moved"]["left_behind"] == ["figures/moved.png"]
    table = run_cli("status", root=root).stdout
    assert "stale (in history)" in table
    assert "missing (in history)" in table
    assert "left behind: figures/moved.png" in table
    assert costs(run_cli, root) == (20, 20, 20, 20)  # stale and missing, 10 each
    plan = json.loads(run_cli("sync", "--dry-run", "--json", root=root).stdout)
    actions = {figure["id"]: (figure["action"], figure["cost"]) for figure in plan["figures"]}
    assert actions["stale"] == ("generate", 10)
    assert actions["missing"] == ("generate", 10)
    assert actions["stale_hist"] == ("restore", 0)
    assert actions["missing_hist"] == ("restore", 0)


def _make_pending(root: Path, figure_id: str) -> None:
    """Give a figure a pending task for its current request (a run interrupted after paying)."""
    from dataclasses import replace

    from figbuild import lockfile

    paper = Paper.open(root)
    lock = paper.read_lock()
    [status] = paper.statuses(paper.resolve((figure_id,)), lock)
    generated = lock.record(figure_id).generated
    assert generated is not None
    old = replace(generated, fingerprint="sha256:" + "0" * 64)
    pending = lockfile.Pending(
        "task-pending",
        status.fingerprint,
        dict(status.resolved.fingerprint.parts),
        status.output,
        10,
        "2026-01-01T00:00:00Z",
    )
    lockfile.write(paper.lock_path, lock.with_generated(figure_id, old).with_pending(figure_id, pending))


# -- candidates: N wanted, k kept ----------------------------------------------------


def test_candidates_added_to_a_fresh_figure_make_the_missing_ones(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    sync(server, paper)
    image = (paper / "figures/a.png").read_bytes()
    document = manifest(paper)
    document["figures"]["a"]["candidates"] = 3
    write_manifest(paper, document)
    dry = run_cli("sync", "--dry-run", root=paper).stdout
    assert "top-up" in dry
    assert "2 more candidates, 20 credits" in dry
    assert costs(run_cli, paper) == (20, 20, 20, 20)
    before = posts(server)
    result = sync(server, paper)
    assert (posts(server) - before, result.credits_spent) == (2, 20)
    assert (paper / "figures/a.png").read_bytes() == image, "the image in place stays"
    assert sync(server, paper).plan.empty, "3 kept: nothing more to make"
    assert run_cli("pick", "a", "3", root=paper).exit_code == 0
    assert run_cli("pick", "a", "1", root=paper).exit_code == 0
    assert (paper / "figures/a.png").read_bytes() == image
    assert check(run_cli, paper) == 0


def test_sync_candidates_n_tops_up_a_fresh_figure(paper: Path, server: Emulator) -> None:
    sync(server, paper)
    before = posts(server)
    result = sync(server, paper, ids=("b",), candidates=2)
    assert (posts(server) - before, result.credits_spent) == (1, 10)
    fingerprint = read(paper / "figures.lock").record("b").generated.fingerprint  # type: ignore[union-attr]
    assert sorted(e.candidate or 0 for e in Store.at(paper).lookup(fingerprint)) == [0, 2]


# -- outputs left behind -----------------------------------------------------------------


def test_a_moved_output_dir_names_and_prunes_what_it_left_behind(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    sync(server, paper)
    old = (paper / "figures/a.png").read_bytes()
    document = manifest(paper)
    document["output_dir"] = "img"
    write_manifest(paper, document)
    sync(server, paper)
    table = run_cli("status", root=paper).stdout
    assert "left behind: figures/a.png" in table
    assert "left behind: figures/b.png" in table
    pruned = run_cli("prune", root=paper)
    assert pruned.exit_code == 0
    assert "figures/a.png" in pruned.stderr
    assert not (paper / "figures/a.png").exists()
    assert (paper / "img/a.png").read_bytes() == old
    assert any(e.sha256 for e in Store.at(paper).entries() if Store.at(paper).read(e) == old)
    assert "left behind" not in run_cli("status", root=paper).stdout
    assert check(run_cli, paper) == 0


def test_gc_never_removes_a_candidate_of_a_current_request(
    make_paper: PaperFactory, server: Emulator
) -> None:
    root = make_paper(simple_manifest(c={"prompt": "Three ways.", "candidates": 3}))
    sync(server, root)
    gc(Paper.open(root), keep=1)
    store = Store.at(root)
    fingerprint = read(root / "figures.lock").record("c").generated.fingerprint  # type: ignore[union-attr]
    assert sorted(e.candidate or 0 for e in store.lookup(fingerprint)) == [1, 2, 3]


# -- formats ---------------------------------------------------------------------------


def test_a_pdf_version_is_not_restored_into_a_png(
    make_paper: PaperFactory, server: Emulator, run_cli: Any
) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A.", "output": "figures/a.pdf"}))
    sync(server, root)
    document = manifest(root)
    document["figures"]["a"]["output"] = "figures/a.png"
    write_manifest(root, document)
    restored = run_cli("restore", "a", "1", root=root)
    assert restored.exit_code == 2
    assert "PDF" in restored.output
    assert "cannot" in restored.output
    assert not (root / "figures/a.png").exists()
    result = sync(server, root)  # no longer fails for ever: a PNG is generated
    assert (result.generated, result.failed) == (["a"], [])
    assert (root / "figures/a.png").read_bytes().startswith(b"\x89PNG")


def test_a_png_version_restored_into_a_jpeg_is_converted(
    make_paper: PaperFactory, server: Emulator, run_cli: Any
) -> None:
    root = make_paper(simple_manifest(a={"prompt": "A."}))
    sync(server, root)
    document = manifest(root)
    document["figures"]["a"]["output"] = "figures/a.jpg"
    write_manifest(root, document)
    assert run_cli("restore", "a", "1", root=root).exit_code == 0
    assert (root / "figures/a.jpg").read_bytes().startswith(b"\xff\xd8\xff")
    assert states(run_cli, root) == {"a": "fresh"}


def test_accept_refuses_a_text_file_and_a_symlink(paper: Path, server: Emulator, run_cli: Any) -> None:
    sync(server, paper)
    (paper / "notes.txt").write_text("not an image\n")
    (paper / "figures/a.png").write_text("not an image\n")
    refused = run_cli("accept", "a", root=paper)
    assert refused.exit_code == 2
    assert "not an image" in refused.output
    (paper / "figures/a.png").unlink()
    (paper / "figures/a.png").symlink_to(paper / "notes.txt")
    refused = run_cli("accept", "a", root=paper)
    assert refused.exit_code == 2
    assert "symbolic link" in refused.output
    assert states(run_cli, paper)["a"] != "fresh"
    (paper / "figures/a.png").unlink()
    (paper / "figures/a.png").write_bytes(draw(40, 30, title="by hand", text="", banner="", fmt="JPEG"))
    refused = run_cli("accept", "a", root=paper)
    assert refused.exit_code == 2
    assert "JPEG image, not a PNG" in refused.output


def test_how_of_a_restored_emulator_copy_stays_a_stand_in(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    emulate(server, paper)
    sync(server, paper)
    versions = json.loads(run_cli("log", "a", "--json", root=paper).stdout)["figures"]["a"]
    stand_in = next(v["version"] for v in versions if v["how"] == "emulator")
    run_cli("restore", "a", str(stand_in), root=paper)
    sha = read(paper / "figures.lock").record("a").generated.sha256  # type: ignore[union-attr]
    copies = [e for e in Store.at(paper).entries() if e.sha256 == sha]
    assert copies
    assert all(e.how is How.EMULATOR for e in copies)


def test_an_output_moved_by_hand_leaves_nothing_behind_in_the_lock(
    paper: Path, server: Emulator, run_cli: Any
) -> None:
    sync(server, paper)
    (paper / "art").mkdir()
    (paper / "figures/b.png").rename(paper / "art/b.png")  # git mv, as far as files go
    document = manifest(paper)
    document["figures"]["b"]["output"] = "art/b.png"
    write_manifest(paper, document)
    sync(server, paper)
    assert "left_behind" not in (paper / "figures.lock").read_text()
    assert "left behind" not in run_cli("status", root=paper).stdout


def test_a_lock_with_outputs_left_behind_reads_back_and_checks_them(tmp_path: Path) -> None:
    from figbuild import lockfile
    from figbuild.errors import LockFileError
    from figbuild.paths import RootGuard

    moved = lockfile.Generated("sha256:f", {"prompt": "p"}, "img/a.png", "1" * 64, "2026-01-01T00:00:00Z")
    first = lockfile.Generated("sha256:f", {"prompt": "p"}, "figures/a.png", "1" * 64, "2026-01-01T00:00:00Z")
    lock = lockfile.Lock().with_generated("a", first).with_generated("a", moved)
    assert lock.record("a").left_behind == ("figures/a.png",)
    text = lockfile.dumps(lock)
    assert lockfile.loads(text, tmp_path / "figures.lock") == lock
    hostile = lockfile.loads(text.replace("figures/a.png", "../../etc/passwd.png"), tmp_path / "figures.lock")
    with pytest.raises(LockFileError):
        lockfile.check_paths(hostile, tmp_path / "figures.lock", RootGuard(tmp_path))
