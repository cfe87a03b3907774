"""What costs credits, against the emulator: a user's choice is never paid over, a
paid image always has somewhere to go, and reconciliation trusts no clock pairing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from figbuild import history
from figbuild.lockfile import Lock, read, write
from figbuild.paper import Paper
from figbuild.timestamps import now, parse_time

from .conftest import EmulatorFactory, PaperFactory
from .test_engine import Emulator, paid_task, paper_with, posts, sync


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.1, image_scale=0.25)


def _a_minute_ago() -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(parse_time(now()) - 60, timezone.utc).isoformat().replace("+00:00", "Z")


def unconfirmed(root: Path, *, created_on: Emulator | None = None) -> None:
    """Record what a sync killed around its POST leaves: a submission of f0's current
    request with no task id (``created_on``: the POST did reach the server)."""
    if created_on is not None:
        mark = replace(paid_task(created_on, root, "f0"), task_id=None, submitted_at=_a_minute_ago())
    else:
        [item] = [r for r in Paper.open(root).resolve() if r.figure.id == "f0"]
        fingerprint = item.fingerprint
        from figbuild.lockfile import Pending

        mark = Pending(
            None, fingerprint.digest, dict(fingerprint.parts), item.figure.output, item.cost, _a_minute_ago()
        )
    lock: Lock = read(root / "figures.lock")
    write(root / "figures.lock", lock.with_pending("f0", mark))


def edit(root: Path) -> None:
    path = root / "sections" / "s0.tex"
    path.write_text(path.read_text() + "More.\n")


@pytest.mark.parametrize("created", [False, True], ids=["no-task", "task-created"])
@pytest.mark.parametrize("choice", ["restore", "accept"])
def test_an_unconfirmed_submission_never_overrides_a_later_choice(
    make_paper: PaperFactory, emulator: Emulator, choice: str, created: bool
) -> None:
    root = paper_with(make_paper, 1)
    sync(emulator, root)
    output = root / "figures" / "f0.png"
    first = output.read_bytes()
    edit(root)  # stale: the killed sync was about to pay for these inputs
    unconfirmed(root, created_on=emulator if created else None)
    paid = posts(emulator)
    if choice == "restore":
        history.restore(Paper.open(root), "f0", 1)
    else:
        history.accept(Paper.open(root), ["f0"])
    assert output.read_bytes() == first
    result = sync(emulator, root)
    assert posts(emulator) == paid, "nothing new is paid for"
    assert output.read_bytes() == first, "the user's choice stays in place"
    assert result.generated == []
    assert read(root / "figures.lock").record("f0").pending == ()
    record = read(root / "figures.lock").record("f0").generated
    assert record is not None
    assert record.how in ("restored", "accepted")


def test_a_server_clock_behind_a_proxy_with_the_right_date_still_reconciles(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # The tasks' times run ten minutes behind; the Date header (a proxy's) is right.
    root = paper_with(make_paper, 2)
    emulator.config.faults.clock_skew = -600
    emulator.config.faults.date_skew = 0
    emulator.config.faults.drop_after_create = 2
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1"]
    assert posts(emulator) == 2
    assert emulator.credits_charged == 20


@pytest.mark.parametrize("date_skew", [0.0, 600.0, -1200.0])
def test_a_dropped_post_is_found_the_next_run_whatever_the_clocks(
    make_paper: PaperFactory, emulator: Emulator, date_skew: float
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.clock_skew = -600
    emulator.config.faults.date_skew = date_skew
    emulator.config.faults.drop_after_create = 1
    emulator.config.faults.inject("500", "list", count=100)
    first = sync(emulator, root)
    assert [figure for figure, _ in first.failed] == ["f0"]
    emulator.config.faults.injections.clear()
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1, "the task the dropped POST created was found, not paid again"


def test_an_unwritable_store_is_refused_before_anything_is_paid(
    make_paper: PaperFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from figbuild.errors import FigbuildError

    root = paper_with(make_paper, 1)
    sync(emulator, root)
    edit(root)
    (tmp_path / "blocker").write_text("a file where the store's folder should be")
    monkeypatch.setenv("FIGBUILD_STORE", str(tmp_path / "blocker" / "store"))
    paid = posts(emulator)
    with pytest.raises(FigbuildError, match="figure store"):
        sync(emulator, root)
    assert posts(emulator) == paid
    assert read(root / "figures.lock").record("f0").pending == ()
    monkeypatch.delenv("FIGBUILD_STORE")
    assert sync(emulator, root).generated == ["f0"], "once it can be written, the sync goes on"


def test_a_full_disk_is_refused_before_anything_is_paid(
    make_paper: PaperFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from collections import namedtuple

    from figbuild.errors import FileError

    root = paper_with(make_paper, 2)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(FileError, match=r"MiB free.*nothing was sent"):
        sync(emulator, root)
    assert posts(emulator) == 0


def test_a_store_that_only_reads_is_refused_before_anything_is_paid(
    make_paper: PaperFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from figbuild import atomic
    from figbuild.errors import FileError

    root = paper_with(make_paper, 1)
    sync(emulator, root)
    edit(root)
    real = atomic.unwritable

    def read_only_store(path: Path) -> str | None:
        if "store" in path.parts:
            return f"cannot write {path}: Read-only file system"
        return real(path)

    monkeypatch.setattr(atomic, "unwritable", read_only_store)
    paid = posts(emulator)
    with pytest.raises(FileError, match=r"figure store.*nothing was sent"):
        sync(emulator, root)
    assert posts(emulator) == paid


@pytest.mark.parametrize("command", [("sync", "--placeholder"), ("log",), ("gallery",), ("status",)])
def test_figbuild_store_naming_a_file_is_a_clear_error(
    make_paper: PaperFactory,
    run_cli: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    root = paper_with(make_paper, 1)
    (root / "figures").mkdir()
    (root / "figures" / "f0.png").write_bytes(b"\x89PNG\r\n\x1a\nhand-made")
    (tmp_path / "not-a-folder").write_text("x")
    monkeypatch.setenv("FIGBUILD_STORE", str(tmp_path / "not-a-folder"))
    result = run_cli(*command, root=root)  # type: ignore[operator]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code != 0:
        assert "not-a-folder" in result.output


def test_a_dropped_post_beside_a_same_prompt_one_in_flight_is_settled_within_the_run(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # a's POST creates its task and the answer is lost; b's (same prompt and options,
    # other content) creates its task and answers late. Once b's answer lands, b owns
    # its task and a's is the one candidate left: taken in this run, nothing paid twice.
    figures = {
        "a": {"prompt": "same prompt", "content": "sections/s0.tex"},
        "b": {"prompt": "same prompt", "content": "sections/s1.tex"},
    }
    files = {
        "sections/s0.tex": "\\section{A}\nAlpha text.\n",
        "sections/s1.tex": "\\section{B}\nBeta text.\n",
    }
    root = make_paper({"version": 1, "figures": figures}, files)
    emulator.config.faults.hang_seconds = 1.0
    emulator.config.faults.inject("drop_after_create", "submit", match="Alpha", delay=0.3).inject(
        "delay_after_create", "submit", match="Beta"
    )
    result = sync(emulator, root, jobs=2)
    assert sorted(result.generated) == ["a", "b"], result.failed
    lock = read(root / "figures.lock")
    ids = {lock.record(f).generated.task_id for f in ("a", "b")}  # type: ignore[union-attr]
    assert len(ids) == 2
    assert posts(emulator) == 2
    assert emulator.credits_charged == 20 == 10 * len(emulator.tasks())


def test_a_pending_record_without_parts_is_a_clear_failure_not_a_traceback(
    make_paper: PaperFactory, emulator: Emulator, run_cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = paper_with(make_paper, 1)
    unconfirmed(root)
    lock = read(root / "figures.lock")
    [mark] = lock.record("f0").pending
    write(root / "figures.lock", lock.replace_pending("f0", mark, replace(mark, parts={})))
    monkeypatch.setenv("PAPERBANANA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-test-key")
    result = run_cli("sync", root=root)  # type: ignore[operator]
    assert result.exit_code == 1, result.output
    assert "without its request's 'type' part" in result.output
    assert posts(emulator) == 0
    assert read(root / "figures.lock").record("f0").pending, "the record stays: it may have cost credits"


def test_gc_keep_1_never_trims_candidates_of_the_current_request(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    result = sync(emulator, root, candidates=3)
    assert result.generated == ["f0"]
    history.gc(Paper.open(root), 1)
    for k in (1, 2, 3):
        history.pick(Paper.open(root), "f0", k)  # every paid candidate can still be picked
    history.gc(Paper.open(root), 1)
    history.pick(Paper.open(root), "f0", 2)


def test_a_hand_edit_over_a_pending_task_not_done_yet_is_no_crash(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # Found by the stateful sync test with hand edits over pending tasks allowed: a
    # task still running when its figure's output was edited by hand raised
    # StillPending out of the run (reclaiming looked whether the file was its image).
    from figbuild.backends.paperbanana.retry import RetryPolicy

    from .test_engine import FAST_POLL

    root = paper_with(make_paper, 1)
    sync(emulator, root)
    mark = paid_task(emulator, root, "f0")
    write(root / "figures.lock", read(root / "figures.lock").with_pending("f0", mark))
    output = root / "figures" / "f0.png"
    mine = output.read_bytes() + b"\0"
    output.write_bytes(mine)  # by hand
    emulator.config.faults.stuck = True
    policy = RetryPolicy(poll=FAST_POLL.poll, backoff_base=0.01, task_deadline=0.3)
    result = sync(emulator, root, policy=policy)
    assert "f0" not in result.generated
    assert output.read_bytes() == mine, "the hand edit is kept"
    assert [p.task_id for p in read(root / "figures.lock").record("f0").pending] == [mark.task_id]


def test_a_placeholder_drawn_after_a_paid_submission_is_replaced_by_its_image(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    from figbuild import engine
    from figbuild.backends.placeholder import PlaceholderBackend

    from .test_engine import Recorder

    root = paper_with(make_paper, 1)
    engine.sync(Paper.open(root), PlaceholderBackend(), Recorder())  # the build hook draws a stand-in
    assert read(root / "figures.lock").record("f0").generated.provisional  # type: ignore[union-attr]
    # ... after a real sync, killed after its POST a minute ago, had recorded its submission.
    unconfirmed(root, created_on=emulator)
    result = sync(emulator, root)
    assert result.generated == ["f0"]
    record = read(root / "figures.lock").record("f0").generated
    assert record is not None
    assert not record.provisional
    assert posts(emulator) == 1, "the task the killed run paid for was collected"
