from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from figbuild import atomic, lockfile
from figbuild.errors import LockFileError
from figbuild.lockfile import FORMAT, Failure, Generated, Lock, Pending

from .conftest import simple_manifest


def _generated(**overrides: object) -> Generated:
    fields: dict[str, object] = {
        "fingerprint": "sha256:" + "a" * 64,
        "parts": {"template": "b" * 64, "resolution": "2K", "content:paper.md#Method": "c" * 64},
        "output": "figures/overview.png",
        "sha256": "d" * 64,
        "generated_at": "2026-11-26T10:00:00Z",
        "how": "generated",
        "candidate": None,
        "task_id": "task-123",
        "credits": 15,
        "model": "nano-banana-pro",
        "resolution": "2K",
    }
    fields.update(overrides)
    return Generated(**fields)  # type: ignore[arg-type]


def _pending(task_id: str | None = "task-9") -> Pending:
    return Pending(
        task_id=task_id,
        fingerprint="sha256:" + "e" * 64,
        parts={"template": "f" * 64},
        output="figures/overview.png",
        credits=15,
        submitted_at="2026-11-26T11:00:00Z",
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    lock = (
        Lock()
        .with_generated("overview", _generated())
        .with_pending("overview", _pending())
        .with_pending("loop", _pending(task_id=None))
    )
    path = tmp_path / "figures.lock"
    lockfile.write(path, lock)
    assert lockfile.read(path) == lock


def test_text_is_sorted_versioned_and_ends_in_newline(tmp_path: Path) -> None:
    text = lockfile.dumps(Lock().with_generated("b", _generated()).with_generated("a", _generated()))
    document = json.loads(text)
    assert document["figbuild_lock"] == FORMAT
    assert list(document["figures"]) == ["a", "b"]
    assert text.endswith("}\n")
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_missing_lock_reads_as_empty(tmp_path: Path) -> None:
    assert lockfile.read(tmp_path / "figures.lock") == Lock()


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"figures": {}}', '{"figbuild_lock": 1, "figures": {"x": 3}}']
)
def test_corrupt_lock_names_its_path(tmp_path: Path, text: str) -> None:
    path = tmp_path / "figures.lock"
    path.write_text(text)
    with pytest.raises(LockFileError) as raised:
        lockfile.read(path)
    assert str(path) in str(raised.value)


def test_newer_lock_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "figures.lock"
    path.write_text(json.dumps({"figbuild_lock": FORMAT + 1, "figures": {}}))
    with pytest.raises(LockFileError, match="newer figbuild"):
        lockfile.read(path)


def test_crash_mid_write_leaves_the_old_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "figures.lock"
    old = Lock().with_generated("overview", _generated())
    lockfile.write(path, old)
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        lockfile.write(path, old.with_generated("other", _generated()))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["figures.lock"], "no temp file left behind"


def test_unchanged_lock_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "figures.lock"
    lock = Lock().with_generated("overview", _generated())
    lockfile.write(path, lock)
    inode = path.stat().st_ino
    lockfile.write(path, lock)
    assert path.stat().st_ino == inode  # an atomic replace would have made a new inode


def test_pending_entries_are_swapped_and_retired() -> None:
    intent = _pending(task_id=None)
    confirmed = _pending(task_id="task-1")
    lock = Lock().with_pending("fig", intent).replace_pending("fig", intent, confirmed)
    assert lock.record("fig").pending == (confirmed,)
    done = lock.with_generated("fig", _generated(), done=confirmed)
    assert done.record("fig").pending == ()
    assert Lock().with_pending("fig", intent).replace_pending("fig", intent, None) == Lock()


def test_noop_cli_run_leaves_lock_byte_identical(make_paper, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(simple_manifest(a={"prompt": "A {{ method }}"}, b={"prompt": "B"}))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    before = (root / "figures.lock").read_bytes()
    for command in (("sync", "--placeholder"), ("status",), ("sync", "--placeholder", "--dry-run")):
        assert run_cli(*command, root=root).exit_code == 0
    assert (root / "figures.lock").read_bytes() == before


def test_a_version_1_lock_reads_and_is_written_as_version_2(tmp_path: Path) -> None:
    # As figbuild wrote it before history: `placeholder` was a flag.
    v1 = {
        "figbuild_lock": 1,
        "figures": {
            "a": {"generated": {**_v1_generated(), "placeholder": False}},
            "b": {"generated": {**_v1_generated(), "placeholder": True}},
        },
    }
    path = tmp_path / "figures.lock"
    path.write_text(json.dumps(v1))
    lock = lockfile.read(path)
    assert lock.record("a").generated == _generated(how="generated")
    assert lock.record("b").generated == _generated(how="placeholder")
    lockfile.write(path, lock)
    written = json.loads(path.read_text())
    assert written["figbuild_lock"] == 2
    assert "placeholder" not in written["figures"]["a"]["generated"]
    assert written["figures"]["b"]["generated"]["how"] == "placeholder"


def _v1_generated() -> dict[str, object]:
    fields = dataclasses.asdict(_generated())
    del fields["how"], fields["candidate"]
    return fields


def test_a_failure_is_kept_until_the_next_image(tmp_path: Path) -> None:
    failure = Failure("task t1 failed: upstream", "2026-11-26T10:00:00Z", "t1", 0)
    lock = Lock().with_failure("a", failure)
    path = tmp_path / "figures.lock"
    lockfile.write(path, lock)
    assert lockfile.read(path).record("a").last_failure == failure
    assert lock.with_generated("a", _generated()).record("a").last_failure is None
