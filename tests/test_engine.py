"""`sync` against the bundled emulator over real loopback HTTP, with injected faults.

Every test checks the emulator's own record of requests and credits: what was
paid for is the measure, not what figbuild says about itself.
"""

from __future__ import annotations

import json
import threading
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
from figbuild.errors import BudgetExceeded, ManifestError
from figbuild.lockfile import read
from figbuild.paper import Paper

from .conftest import EmulatorFactory, PaperFactory

FAST_POLL = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))


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
    with Client(settings) as client:
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


def test_truncated_download_is_never_left_on_disk_and_is_collected_next_run(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = paper_with(make_paper, 1)
    emulator.config.faults.truncate_downloads = 1
    first = sync(emulator, root)
    assert [figure for figure, _ in first.failed] == ["f0"]
    assert not (root / "figures/f0.png").exists()
    assert list((root / "figures").iterdir()) == [], "no temp file left"
    assert read(root / "figures.lock").record("f0").pending[0].task_id is not None
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
    emulator.config.faults.truncate_downloads = 1
    sync(emulator, root)
    rows = json.loads(run_cli("status", "--json", root=root).output)
    assert rows[0]["state"] == "pending"


def test_a_pending_task_the_server_no_longer_knows_is_regenerated(make_paper: PaperFactory) -> None:
    # Pending in the lock, but the (new) server has never heard of it: dropped and regenerated.
    root = paper_with(make_paper, 1)
    with Emulator(EmulatorConfig(latency=0.1, image_scale=0.1)) as first:
        first.config.faults.truncate_downloads = 1
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
