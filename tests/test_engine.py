"""`sync` against the bundled emulator over real loopback HTTP, with injected faults.

Every test checks the emulator's own record of requests and credits: what was
paid for is the measure, not what figbuild says about itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.errors import BudgetExceeded, LockFileError, ManifestError
from figbuild.lockfile import Generated, Lock, Pending, read, write
from figbuild.paper import Paper
from figbuild.timestamps import now

from .conftest import EmulatorFactory, PaperFactory, all_files

FAST_POLL = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2), backoff_base=0.01)


class Recorder:
    """A Reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def info(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        with self._lock:
            self.events.append((figure_id, event, detail))


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.1, image_scale=0.25)


def sync(
    server: Emulator, root: Path, window: float = 60.0, policy: RetryPolicy = FAST_POLL, **options: Any
) -> engine.SyncResult:
    """One `sync` of the paper at ``root`` against ``server``, as the CLI runs it."""
    settings = Settings(base_url=server.base_url, key="sk-test-key", window=window)
    with Client(settings, policy=policy) as client:
        backend = ApiBackend(client, policy)
        return engine.sync(Paper.open(root), backend, Recorder(), **options)


def posts(server: Emulator) -> int:
    return server.count("POST", "/api/v1/generate")


def paper_with(make_paper: PaperFactory, count: int, **extra: Any) -> Path:
    figures = {
        f"f{i}": {"prompt": f"Figure {i} of {{{{ method }}}}", "content": f"sections/s{i % 2}.tex", **extra}
        for i in range(count)
    }
    files = {
        "sections/s0.tex": "\\section{A}\nAlpha text.\n",
        "sections/s1.tex": "\\section{B}\nBeta text.\n",
    }
    return make_paper({"version": 1, "vars": {"method": "FlowNet"}, "figures": figures}, files)


def test_first_sync_generates_all_second_sends_nothing(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 4)
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1", "f2", "f3"]
    assert posts(emulator) == 4
    assert result.credits_spent == emulator.credits_charged == 40
    lock_before = (root / "figures.lock").read_bytes()
    for i in range(4):
        with Image.open(root / f"figures/f{i}.png") as image:
            assert image.format == "PNG"
    requests_before = len(emulator.records())
    second = sync(emulator, root)
    assert second.plan.empty
    assert len(emulator.records()) == requests_before, "a no-op sync sends no request at all"
    assert (root / "figures.lock").read_bytes() == lock_before


def test_editing_one_content_file_regenerates_exactly_its_dependants(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 4)
    sync(emulator, root)
    (root / "sections/s1.tex").write_text("\\section{B}\nBeta text, revised.\n")
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f1", "f3"]
    assert posts(emulator) == 6
    assert emulator.credits_charged == 60


def test_comment_only_edit_regenerates_nothing(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 2)
    sync(emulator, root)
    (root / "sections/s1.tex").write_text("\\section{B}  % a note\nBeta    text.\n% more notes\n")
    assert sync(emulator, root).plan.empty
    assert posts(emulator) == 2


def test_dropped_connection_after_create_is_reconciled_not_paid_twice(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 3)
    emulator.config.faults.drop_after_create = 2
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1", "f2"]
    assert posts(emulator) == 3, "the dropped POSTs are not sent again"
    assert emulator.credits_charged == 30 == result.credits_spent
    assert len(emulator.tasks()) == 3


def test_generate_500_without_a_task_is_checked_then_resent(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 2)
    emulator.config.faults.generate_errors = 1
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1"]
    assert posts(emulator) == 3
    assert emulator.count("GET", "/api/v1/tasks") >= 1, "looked for the task before resending"
    assert emulator.credits_charged == 20


def test_a_429_storm_is_waited_out(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 2)
    emulator.config.faults.rate_limit_storm = 3
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1"]
    assert emulator.credits_charged == 20
    assert sum(1 for r in emulator.records() if r.status == 429) == 3


def test_low_rate_limit_sees_no_429(make_paper: PaperFactory) -> None:
    # The Team Basic limit scaled down: 20 requests per 2 s window.
    with Emulator(EmulatorConfig(latency=0.3, rpm=20, window=2.0, image_scale=0.1)) as server:
        root = paper_with(make_paper, 12)
        result = sync(server, root, window=2.0, jobs=12)
        assert len(result.generated) == 12
        assert [r for r in server.records() if r.status == 429] == []
        assert server.credits_charged == 120


def test_a_cut_download_is_retried_as_a_network_error_on_a_read(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.truncate_downloads = 2
    assert sync(emulator, root).generated == ["f0"]
    assert emulator.count("GET", "/files/") == 3
    assert posts(emulator) == 1


def test_truncated_download_is_never_left_on_disk_and_is_collected_next_run(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.truncate_downloads = 100
    first = sync(emulator, root)
    assert [figure for figure, _ in first.failed] == ["f0"]
    assert not (root / "figures/f0.png").exists()
    assert list((root / "figures").iterdir()) == [], "no temp file left"
    assert read(root / "figures.lock").record("f0").pending[0].task_id is not None
    emulator.config.faults.truncate_downloads = 0
    second = sync(emulator, root)
    assert second.generated == ["f0"]
    assert posts(emulator) == 1, "the paid task was collected, not paid again"
    with Image.open(root / "figures/f0.png") as image:
        image.load()


@pytest.mark.parametrize(
    ("served", "output", "expected"),
    [
        ("JPEG", "figures/a.png", "PNG"),
        ("PNG", "figures/a.jpg", "JPEG"),
        ("PNG", "figures/a.pdf", "PDF"),
    ],
)
def test_other_formats_are_converted(
    make_paper: PaperFactory, emulator: Emulator, served: str, output: str, expected: str
) -> None:
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x", "output": output}}})
    emulator.config.faults.serve_format = served
    assert sync(emulator, root).generated == ["a"]
    data = (root / output).read_bytes()
    if expected == "PDF":
        assert data.startswith(b"%PDF")
    else:
        with Image.open(root / output) as image:
            assert image.format == expected


def test_a_failed_task_fails_only_its_figure(make_paper: PaperFactory, emulator: Emulator, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(
        {
            "version": 1,
            "figures": {
                "good": {"prompt": "a fine diagram"},
                "bad": {"prompt": "please FAIL this"},
                "ok": {"prompt": "x"},
            },
        }
    )
    emulator.config.faults.fail_prompts = ("FAIL",)
    result = sync(emulator, root)
    assert sorted(result.generated) == ["good", "ok"]
    assert [figure for figure, _ in result.failed] == ["bad"]
    assert "generation failed" in result.failed[0][1]
    lock = read(root / "figures.lock")
    assert lock.record("bad").pending == ()
    assert lock.record("good").generated is not None


def test_failed_figure_exits_1_and_is_named_by_the_cli(
    make_paper: PaperFactory,
    emulator: Emulator,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    root = make_paper({"version": 1, "figures": {"good": {"prompt": "x"}, "bad": {"prompt": "FAIL"}}})
    emulator.config.faults.fail_prompts = ("FAIL",)
    monkeypatch.setenv("PAPERBANANA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-test-key")
    result = run_cli("sync", root=root)
    assert result.exit_code == 1
    assert "failed bad" in result.stderr
    assert (root / "figures/good.png").exists()


def test_hand_edited_figure_survives_and_force_replaces_it(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    sync(emulator, root)
    figure = root / "figures/f0.png"
    Image.new("RGB", (32, 32), "red").save(figure)
    edited = figure.read_bytes()
    (root / "sections/s0.tex").write_text("\\section{A}\nNew alpha text.\n")
    result = sync(emulator, root)
    assert result.generated == []
    assert figure.read_bytes() == edited
    assert "modified by hand" in result.plan.skipped[0][1]
    forced = sync(emulator, root, force=True)
    assert forced.generated == ["f0"]
    assert figure.read_bytes() != edited
    assert posts(emulator) == 2


def test_dry_run_and_max_credits_send_no_post(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 3, resolution="4K")
    dry = sync(emulator, root, dry_run=True)
    assert dry.plan.cost == 75
    assert posts(emulator) == 0
    with pytest.raises(BudgetExceeded, match="75 credits"):
        sync(emulator, root, max_credits=50)
    assert posts(emulator) == 0
    assert not (root / "figures.lock").exists()


def test_unaffordable_plan_is_refused_before_any_post(make_paper: PaperFactory) -> None:
    with Emulator(EmulatorConfig(credits=25)) as server:
        root = paper_with(make_paper, 3)
        with pytest.raises(BudgetExceeded, match="30 credits but only 25"):
            sync(server, root)
        assert posts(server) == 0
        assert server.credits_charged == 0


def test_402_stops_further_submissions(make_paper: PaperFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # The balance looked sufficient, then ran out (another user of the key spent it):
    # the first 402 stops every further POST.
    monkeypatch.setattr(ApiBackend, "balance", lambda self: 1000)
    with Emulator(EmulatorConfig(credits=15, latency=0.1)) as server:
        root = paper_with(make_paper, 3)
        result = sync(server, root, jobs=1)
        assert len(result.generated) == 1
        reasons = sorted(why for _, why in result.failed)
        assert len(reasons) == 2
        assert reasons[0].startswith("not enough credits")
        assert reasons[1].startswith("not submitted: not enough credits")
        assert posts(server) == 2, "after the 402, nothing more is sent"


def test_concurrent_syncs_on_one_paper_pay_once(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 4)
    results: list[engine.SyncResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(sync(emulator, root))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert posts(emulator) == 4
    assert sorted(len(result.generated) for result in results) == [0, 4]


def test_figures_run_concurrently(make_paper: PaperFactory) -> None:
    # Concurrency shown by overlapping tasks in the emulator's own record, not by timing.
    with Emulator(EmulatorConfig(latency=0.5, image_scale=0.1)) as server:
        root = paper_with(make_paper, 8)
        sync(server, root, jobs=8)
        created = sorted(task["created_at"] for task in server.tasks())
        assert len(created) == 8
        post_times = sorted(r.time for r in server.records() if r.method == "POST")
        assert post_times[-1] - post_times[0] < 0.5, "all 8 submitted before the first could finish"


def test_requests_per_figure_stay_low_with_batched_polling(make_paper: PaperFactory) -> None:
    with Emulator(EmulatorConfig(latency=1.0, image_scale=0.1)) as server:
        root = paper_with(make_paper, 12)
        # Polling paced to the latency, as the default policy is to the real API's.
        sync(server, root, jobs=12, policy=RetryPolicy(poll=PollSchedule(initial=0.4, factor=1.5, cap=1.0)))
        api_requests = [r for r in server.records() if r.path.startswith("/api/v1")]
        per_task = server.count("GET", "/api/v1/task/")
        assert per_task <= 3, "polls are batched through GET /tasks, not one per task per round"
        assert len(api_requests) / 12 <= 1.5


def test_invalid_manifest_sends_nothing(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "{{ nope }}"}}})
    with pytest.raises(ManifestError):
        sync(emulator, root)
    assert emulator.records() == []


def test_status_json_shows_pending_after_an_interrupted_collection(
    make_paper: PaperFactory, emulator: Emulator, run_cli: Callable[..., Any]
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.truncate_downloads = 100
    sync(emulator, root)
    rows = json.loads(run_cli("status", "--json", root=root).output)
    assert rows[0]["state"] == "pending"


def test_a_pending_task_the_server_no_longer_knows_is_regenerated(make_paper: PaperFactory) -> None:
    # Pending in the lock, but the (new) server has never heard of it: dropped and regenerated.
    root = paper_with(make_paper, 1)
    with Emulator(EmulatorConfig(latency=0.1, image_scale=0.1)) as first:
        first.config.faults.truncate_downloads = 100
        sync(first, root)
    assert read(root / "figures.lock").record("f0").pending
    with Emulator(EmulatorConfig(latency=0.1, image_scale=0.1)) as second:
        result = sync(second, root)
        assert result.generated == ["f0"]
        assert posts(second) == 1
    assert read(root / "figures.lock").record("f0").pending == ()


def test_an_interrupted_submission_for_an_older_prompt_is_found_and_collected(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # A run died between its POST and recording the task id; then the prompt was
    # edited. The task paid for under the old prompt is found by that prompt, and
    # collected, before the new prompt is generated.
    import requests

    from figbuild.lockfile import Lock, Pending, write
    from figbuild.timestamps import now

    root = make_paper({"version": 1, "figures": {"a": {"prompt": "the old prompt"}}})
    [old] = Paper.open(root).resolve()
    started = now()
    body = old.request.body()
    answer = requests.post(
        f"{emulator.base_url}/generate",
        json=body,
        timeout=10,
        headers={"Authorization": "Bearer sk-test-key"},
    )
    assert answer.status_code == 200
    intent = Pending(None, old.fingerprint.digest, dict(old.fingerprint.parts), "figures/a.png", 10, started)
    write(root / "figures.lock", Lock().with_pending("a", intent))
    (root / "figures.yaml").write_text("version: 1\nfigures:\n  a:\n    prompt: the new prompt\n")
    result = sync(emulator, root)
    assert result.generated == ["a", "a"], "the old task collected, then the new prompt generated"
    assert posts(emulator) == 2
    record = read(root / "figures.lock").record("a")
    assert record.pending == ()
    assert record.generated is not None
    assert record.generated.fingerprint == Paper.open(root).resolve()[0].fingerprint.digest


def test_reconciliation_never_takes_a_task_the_lock_already_has(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # The same request was generated a moment ago (its task is in the lock). A forced
    # re-generation whose POST fails without creating a task must not "find" that old
    # task: it is sent again, and the figure gets a new one.
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "same prompt"}}})
    sync(emulator, root)
    first = read(root / "figures.lock").record("a").generated
    assert first is not None
    emulator.config.faults.generate_errors = 1
    result = sync(emulator, root, force=True)
    assert result.generated == ["a"]
    assert posts(emulator) == 3
    again = read(root / "figures.lock").record("a").generated
    assert again is not None
    assert again.task_id != first.task_id


def paid_task(server: Emulator, root: Path, figure_id: str = "a", output: str | None = None) -> Pending:
    """Pay ``server`` for the figure's current request, as a run killed after its POST
    would have; the lock entry that run recorded, writing to ``output``."""
    import requests

    [item] = [r for r in Paper.open(root).resolve() if r.figure.id == figure_id]
    answer = requests.post(
        f"{server.base_url}/generate",
        json=item.request.body(),
        timeout=10,
        headers={"Authorization": "Bearer sk-test-key"},
    )
    task_id = answer.json()["data"]["task_id"]
    fingerprint = item.fingerprint
    return Pending(
        task_id, fingerprint.digest, dict(fingerprint.parts), output or item.figure.output, item.cost, now()
    )


@pytest.mark.parametrize(
    "output",
    [
        "../outside/a.png",
        "{outside}/a.png",
        "figures/../../outside/a.png",
        "figures/link/a.png",
        "figures/evil.png",
        "figures.yaml",
    ],
)
def test_a_pending_output_outside_the_paper_is_a_lock_error_and_nothing_is_written(
    make_paper: PaperFactory, emulator: Emulator, tmp_path: Path, output: str
) -> None:
    # A bad merge or a hostile pull request points a pending task at a file outside
    # the paper (or at the manifest): the lock is refused before anything is written.
    outside = tmp_path / "outside"
    outside.mkdir()
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    (root / "figures").mkdir()
    (root / "figures/link").symlink_to(outside)
    (root / "figures/evil.png").symlink_to(outside / "a.png")
    pending = paid_task(emulator, root, output=output.format(outside=outside))
    write(root / "figures.lock", Lock().with_pending("a", pending))
    before = all_files(root)
    with pytest.raises(LockFileError) as raised:
        sync(emulator, root)
    assert str(root / "figures.lock") in str(raised.value)
    assert "figure 'a'" in str(raised.value)
    assert list(outside.iterdir()) == []
    assert all_files(root) == before
    assert posts(emulator) == 1, "only the test's own POST"


def test_a_generated_output_outside_the_paper_is_exit_2_for_status_and_sync(
    make_paper: PaperFactory, run_cli: Callable[..., Any]
) -> None:
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    generated = Generated("sha256:" + "0" * 64, {}, "/etc/a.png", "1" * 64, now())
    write(root / "figures.lock", Lock().with_generated("a", generated))
    for command in (("status",), ("sync", "--placeholder")):
        result = run_cli(*command, root=root)
        assert result.exit_code == 2
        assert "figures.lock" in result.stderr
        assert "/etc/a.png" in result.stderr
    assert not (root / "figures").exists()


def test_a_file_saved_over_an_interrupted_run_is_kept_and_force_collects_without_paying_again(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    write(root / "figures.lock", Lock().with_pending("a", paid_task(emulator, root)))
    figure = root / "figures/a.png"
    figure.parent.mkdir()
    Image.new("RGB", (32, 32), "red").save(figure)
    mine = figure.read_bytes()
    kept = sync(emulator, root)
    assert kept.generated == []
    assert kept.plan.skipped[0][1] == "modified by hand: its pending task is kept, not collected"
    assert figure.read_bytes() == mine
    assert read(root / "figures.lock").record("a").pending, "the paid task is kept for later"
    forced = sync(emulator, root, force=True)
    assert forced.generated == ["a"]
    assert figure.read_bytes() != mine
    assert posts(emulator) == 1, "collected, not paid again"
    assert emulator.credits_charged == 10


def test_an_image_written_by_a_run_killed_before_recording_it_is_adopted_not_called_a_hand_edit(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # The lock says "pending" but the file is the task's image: the run was killed
    # between the rename and the lock write. Not a hand edit: recorded, not paid again.
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    interrupted = Lock().with_pending("a", paid_task(emulator, root))
    write(root / "figures.lock", interrupted)
    assert sync(emulator, root).generated == ["a"]
    image = (root / "figures/a.png").read_bytes()
    write(root / "figures.lock", interrupted)
    again = sync(emulator, root)
    assert again.failed == []
    assert (root / "figures/a.png").read_bytes() == image
    record = read(root / "figures.lock").record("a")
    assert record.pending == ()
    assert record.generated is not None
    assert sync(emulator, root).plan.empty, "fresh from now on"
    assert posts(emulator) == 1


def test_a_task_paid_over_an_older_image_whose_record_was_lost_is_collected_not_stranded(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # Found by the two-machine kill loop: a run put an older image in place and was
    # killed before its record (not a durable write) reached the lock; the next run
    # knew the file as figbuild's (history holds it), paid for the new inputs and was
    # killed too. The output is figbuild's, not a hand edit: the task is collected.
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "version 1"}}})
    sync(emulator, root)
    lost = (root / "figures.lock").read_bytes()
    (root / "figures.yaml").write_text(json.dumps({"version": 1, "figures": {"a": {"prompt": "version 2"}}}))
    assert sync(emulator, root).generated == ["a"]
    (root / "figures.lock").write_bytes(lost)  # the record of version 2's image died with the run
    (root / "figures.yaml").write_text(json.dumps({"version": 1, "figures": {"a": {"prompt": "version 3"}}}))
    task = paid_task(emulator, root)
    write(root / "figures.lock", read(root / "figures.lock").with_pending("a", task))
    result = sync(emulator, root)
    assert result.generated == ["a"], result.plan.skipped
    record = read(root / "figures.lock").record("a")
    assert record.pending == ()
    assert record.generated is not None
    assert (record.generated.task_id, record.generated.fingerprint) == (task.task_id, task.fingerprint)
    assert sync(emulator, root).plan.empty, "fresh from now on"
    assert posts(emulator) == 3, "collected, not paid again"


def test_an_older_task_collected_first_does_not_stand_for_the_request_still_wanted(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # Found by the kill loop: one run paid for version 4 and was killed; a later one
    # marked version 6 as about to be sent and was killed before its POST. The next
    # sync collected version 4's image first, then took it for "an image chosen since"
    # version 6 was marked, dropped the mark, paid for nothing and exited 0: stale.
    def manifest(version: int) -> None:
        figures = {"a": {"prompt": f"version {version}"}}
        (root / "figures.yaml").write_text(json.dumps({"version": 1, "figures": figures}))

    root = make_paper({"version": 1, "figures": {"a": {"prompt": "version 3"}}})
    sync(emulator, root)
    manifest(4)
    older = paid_task(emulator, root)
    manifest(6)
    [item] = Paper.open(root).resolve()
    earlier = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    intent = Pending(
        None, item.fingerprint.digest, dict(item.fingerprint.parts), "figures/a.png", 10, earlier
    )
    write(
        root / "figures.lock", read(root / "figures.lock").with_pending("a", older).with_pending("a", intent)
    )
    result = sync(emulator, root)
    assert result.failed == []
    record = read(root / "figures.lock").record("a")
    assert record.pending == ()
    assert record.generated is not None
    assert record.generated.fingerprint == item.fingerprint.digest, "version 6 is paid for and in place"
    assert posts(emulator) == 3
    assert sync(emulator, root).plan.empty


# -- trust under faults (issue 11): money, hangs, hostile answers -----------------


def run_bounded(action: Callable[[], Any], seconds: float = 20.0) -> Any:
    """``action()`` on a thread; a hang fails the test instead of stalling the suite."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(action()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still running after {seconds} s: a wait without a deadline"
    return outcome[0]


def test_reconciliation_matches_the_aspect_ratio_too(make_paper: PaperFactory, emulator: Emulator) -> None:
    import requests

    # A task with the same prompt but another aspect ratio was made a moment ago
    # (elsewhere). A POST that failed without creating anything must not take it.
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "same prompt", "aspect_ratio": "1:1"}}})
    body = {"type": "pipeline", "prompt": "same prompt", "options": {"aspect_ratio": "16:9"}}
    headers = {"Authorization": "Bearer sk-test-key"}
    other = requests.post(f"{emulator.base_url}/generate", json=body, timeout=10, headers=headers)
    emulator.config.faults.generate_errors = 1
    result = sync(emulator, root)
    assert result.generated == ["a"]
    generated = read(root / "figures.lock").record("a").generated
    assert generated is not None
    assert generated.task_id != other.json()["data"]["task_id"]


def test_same_prompt_other_content_never_takes_a_task_another_submission_may_be_given(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # a's POST fails (no task); b's, with the same prompt and options but other
    # content, creates its task and answers late. The server does not show content,
    # so the task a's reconciliation sees may be b's: a waits for b's answer, then
    # looks again, finds no task of its own and submits (issue 21: it used to fail the run).
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
    emulator.config.faults.inject("500", "submit", match="Alpha", delay=0.3).inject(
        "delay_after_create", "submit", match="Beta"
    )
    first = sync(emulator, root, jobs=2)
    assert sorted(first.generated) == ["a", "b"]
    assert first.failed == []
    lock = read(root / "figures.lock")
    ids = {lock.record(f).generated.task_id for f in ("a", "b")}  # type: ignore[union-attr]
    assert len(ids) == 2, "each figure has its own task"
    assert emulator.credits_charged == 20 == 10 * len(emulator.tasks())


@pytest.mark.parametrize("kind", ["no_task_id", "html_2xx"])
def test_an_unreadable_2xx_to_generate_is_reconciled_not_paid_again(
    make_paper: PaperFactory, emulator: Emulator, kind: str
) -> None:
    root = paper_with(make_paper, 2)
    emulator.config.faults.inject(kind, "submit", count=2)
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1"]
    assert posts(emulator) == 2
    assert emulator.credits_charged == 20


def test_a_task_that_succeeded_without_an_image_url_stays_pending(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.inject("no_url", "poll", count=100)
    first = sync(emulator, root)
    assert "no image URL" in first.failed[0][1]
    assert read(root / "figures.lock").record("f0").pending[0].task_id is not None
    emulator.config.faults.injections.clear()
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1, "collected, not paid again"


def test_an_unreadable_task_list_keeps_the_unconfirmed_submission(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.drop_after_create = 1
    emulator.config.faults.inject("500", "list", count=100)
    first = sync(emulator, root)
    assert [figure for figure, _ in first.failed] == ["f0"]
    [mark] = read(root / "figures.lock").record("f0").pending
    assert mark.task_id is None
    emulator.config.faults.injections.clear()
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1, "the task the dropped POST created was found, not paid again"


def test_a_server_clock_ten_minutes_behind_does_not_defeat_reconciliation(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 2)
    emulator.config.faults.clock_skew = -600
    emulator.config.faults.drop_after_create = 2
    result = sync(emulator, root)
    assert sorted(result.generated) == ["f0", "f1"]
    assert posts(emulator) == 2
    assert emulator.credits_charged == 20


def test_a_task_in_an_unknown_state_ends_the_wait_and_stays_pending(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.inject("unknown_status", "poll", count=10_000, value="cancelled")
    first = run_bounded(lambda: sync(emulator, root))
    assert "'cancelled', a state figbuild does not know" in first.failed[0][1]
    assert read(root / "figures.lock").record("f0").pending
    emulator.config.faults.injections.clear()
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1


def test_every_wait_has_a_deadline_after_which_the_task_stays_pending(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.stuck = True
    policy = RetryPolicy(poll=FAST_POLL.poll, backoff_base=0.01, task_deadline=0.3)
    first = run_bounded(lambda: sync(emulator, root, policy=policy))
    assert "did not finish within 0.3 s" in first.failed[0][1]
    assert read(root / "figures.lock").record("f0").pending[0].task_id is not None
    emulator.config.faults.stuck = False
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "http://images.example.org/x.png", "../../outside.png"]
)
def test_a_hostile_image_url_fails_only_its_figure(
    make_paper: PaperFactory,
    emulator: Emulator,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    root = paper_with(make_paper, 2)
    emulator.config.faults.inject("hostile_url", "poll", count=1, value=url)
    monkeypatch.setenv("PAPERBANANA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-test-key")
    monkeypatch.setattr("figbuild.backends.paperbanana.backend.POLICY", FAST_POLL)
    result = run_cli("sync", "--jobs", "1", root=root)
    assert result.exit_code == 1, result.output
    assert "generated 1, skipped 0, failed 1" in result.stderr
    assert "refuses" in result.stderr
    lock = read(root / "figures.lock")
    assert sum(1 for f in ("f0", "f1") if lock.record(f).pending) == 1, "its task stays pending"
    assert run_cli("sync", root=root).exit_code == 0
    assert posts(emulator) == 2


def test_an_endless_download_is_cut_at_the_size_limit(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.inject("endless", "download", count=10)
    settings = Settings(base_url=emulator.base_url, key="sk-test-key", max_download=4 * 1024 * 1024)
    with Client(settings, policy=FAST_POLL) as client:
        first = run_bounded(lambda: engine.sync(Paper.open(root), ApiBackend(client, FAST_POLL), Recorder()))
    assert "larger than" in first.failed[0][1]
    assert list((root / "figures").iterdir()) == [], "nothing half-written, no temp file"
    assert read(root / "figures.lock").record("f0").pending
    emulator.config.faults.injections.clear()
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1


def test_a_trickling_download_has_a_deadline_too(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.trickle_delay = 0.2  # 1 KiB every 0.2 s: about a second in all
    emulator.config.faults.inject("trickle", "download", count=100)
    policy = RetryPolicy(poll=FAST_POLL.poll, backoff_base=0.01, download_deadline=0.3)
    first = run_bounded(lambda: sync(emulator, root, policy=policy))
    assert "took longer than 0.3 s" in first.failed[0][1]
    assert read(root / "figures.lock").record("f0").pending
    assert list((root / "figures").iterdir()) == []
    emulator.config.faults.injections.clear()
    assert sync(emulator, root).generated == ["f0"]
    assert posts(emulator) == 1


def test_a_task_whose_image_was_replaced_is_never_taken_by_another_figure(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    # a and c differ only in content. a's first task leaves the lock when a is
    # regenerated; a later POST of c that got no answer must not "find" it.
    figures = {
        "a": {"prompt": "same prompt", "content": "sections/a.tex"},
        "c": {"prompt": "same prompt", "content": "sections/c.tex"},
    }
    files = {"sections/a.tex": "\\section{A}\nAlpha.\n", "sections/c.tex": "\\section{C}\nGamma.\n"}
    root = make_paper({"version": 1, "figures": figures}, files)
    sync(emulator, root)
    first_a = read(root / "figures.lock").record("a").generated
    assert first_a is not None
    (root / "sections/a.tex").write_text("\\section{A}\nAlpha, revised.\n")
    sync(emulator, root)
    (root / "sections/c.tex").write_text("\\section{C}\nGamma, revised.\n")
    emulator.config.faults.inject("drop", "submit")
    result = sync(emulator, root)
    assert result.generated == ["c"]
    c = read(root / "figures.lock").record("c").generated
    assert c is not None
    assert c.task_id != first_a.task_id, "c took a's old task"
    assert emulator.credits_charged == 10 * len(emulator.tasks()) == 40


def test_an_older_task_never_replaces_an_image_of_the_current_inputs(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.inject("html_2xx", "poll")
    sync(emulator, root)  # the task is paid, its state unreadable: pending
    (root / "sections/s0.tex").write_text("\\section{A}\nAlpha text, revised.\n")
    emulator.config.faults.inject("html_2xx", "poll")
    second = sync(emulator, root)  # the old task still unreadable; the new inputs generated
    assert second.generated == ["f0"]
    current = read(root / "figures.lock").record("f0").generated
    assert current is not None
    third = sync(emulator, root)
    assert third.generated == [], "the older task's image is not put over the current one"
    record = read(root / "figures.lock").record("f0")
    assert record.generated == current
    assert record.pending == ()
    assert sync(emulator, root).plan.empty, "fresh: nothing is paid again"
    assert posts(emulator) == 2
