"""When tasks in flight are looked at (backends/paperbanana/polling.py): the schedule
on its own, in simulated time (no clock, no sleeping), and the backend's rounds
against the emulator over loopback (request counts, never timings)."""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild import engine
from figbuild.backends.base import Job
from figbuild.backends.paperbanana.backend import BATCH_FROM, ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.polling import GROUPS, MARGIN, SLACK, Schedule
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.request import Request

PRIOR = PollSchedule(initial=0.01, factor=1.5, cap=5.0, expected=1.0, probes=())


# -- the schedule, in simulated time ---------------------------------------------


@dataclass
class Run:
    """What a simulated sync saw: the rounds made, and when each task was collected."""

    rounds: int = 0
    collected: dict[int, float] = field(default_factory=dict)
    #: Looks at a task the schedule had said was due, that found it still working.
    early: int = 0


def simulate(submitted: list[float], took: list[float], poll: PollSchedule) -> Run:
    """Drive a Schedule as the tracker does: a task joins at its submission, each round
    (one list page) shows every task in flight, a task done leaves."""
    schedule, run, now = Schedule(poll), Run(), 0.0
    waiting = sorted(range(len(submitted)), key=submitted.__getitem__)
    in_flight: set[int] = set()
    for _ in range(100_000):
        if not waiting and not in_flight:
            return run
        when = schedule.next_round()
        if waiting and (when is None or submitted[waiting[0]] <= when):
            task = waiting.pop(0)
            now = max(now, submitted[task])
            schedule.add(str(task), now)
            in_flight.add(task)
            continue
        assert when is not None
        now = max(now, when)
        due = {int(task) for task in schedule.due_by(now)}
        assert due, "a round is only made when a task is due"
        run.rounds += 1
        for task in sorted(in_flight):
            if submitted[task] + took[task] <= now:
                schedule.done(str(task), now)
                schedule.discard(str(task))
                in_flight.discard(task)
                run.collected[task] = now
            else:
                run.early += task in due
                schedule.working(str(task), now)
    raise AssertionError("the schedule never collected every task")


batches = st.integers(min_value=1, max_value=120).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.0, 2.0), min_size=n, max_size=n),  # submission times
        st.floats(0.05, 60.0),  # the tasks' latency
    )
)


@settings(max_examples=200, deadline=None)
@given(batch=batches)
def test_an_exact_expectation_collects_every_task_on_its_first_look(batch: tuple[list[float], float]) -> None:
    """Tasks that take what the schedule expects are never looked at early, the last
    is collected as it is done, and a batch costs about GROUPS rounds."""
    submitted, latency = batch
    # As after a first task seen done, or the server's durations: no probes.
    poll = PollSchedule(initial=0.01, factor=1.5, cap=latency, expected=latency, probes=())
    run = simulate(submitted, [latency] * len(submitted), poll)
    assert run.early == 0
    assert len(run.collected) == len(submitted)
    ready = [s + latency for s in submitted]
    # The duration learned from the first task seen done carries one margin, and the
    # expected times made of it another.
    late = (1 + MARGIN) ** 2 - 1
    for task, at in run.collected.items():  # never left waiting much longer than SLACK
        assert at <= ready[task] + ((1 + late) * (1 + SLACK) - 1) * latency + poll.initial + 1e-9
    assert max(run.collected.values()) <= max(ready) + late * latency + 1e-9
    spread = max(submitted) - min(submitted)
    assert run.rounds <= GROUPS + 1 + math.ceil(spread / (SLACK * latency))


@settings(max_examples=200, deadline=None)
@given(
    batch=batches,
    jitter=st.floats(0.0, 0.5),
    prior_error=st.floats(0.2, 5.0),
    draws=st.lists(st.floats(-1.0, 1.0), min_size=120, max_size=120),
)
def test_a_wrong_expectation_or_jitter_costs_a_bounded_number_of_rounds(
    batch: tuple[list[float], float], jitter: float, prior_error: float, draws: list[float]
) -> None:
    submitted, latency = batch
    took = [latency * (1 + jitter * draw) for draw in draws[: len(submitted)]]
    poll = PollSchedule(initial=0.01, factor=1.5, cap=10 * latency, expected=latency * prior_error, late=0.1)
    run = simulate(submitted, took, poll)
    assert len(run.collected) == len(submitted)
    quickest, slowest = min(took), max(took)
    spread = max(submitted) - min(submitted) + slowest - quickest
    step = min(SLACK, poll.late) * quickest
    expected = latency * prior_error
    # Until a task is seen done: looks at the expected time, then gaps growing by `late`.
    discovery = math.ceil(math.log(slowest / expected) / math.log(1 + poll.late)) if expected < slowest else 0
    # Each probe of the prior is at most one round more.
    assert run.rounds <= GROUPS + 2 + math.ceil(spread / step) + discovery + len(poll.probes)


def test_a_prior_far_too_long_is_probed_not_waited_out() -> None:
    """Tasks much quicker than the prior (a 45 s guess, 2 s tasks) are collected at the
    first probe after they are done, not 45 s after their submission."""
    poll = PollSchedule(initial=0.5, factor=1.5, cap=10.0, expected=45.0)
    run = simulate([0.0, 0.1, 0.2], [2.0, 2.0, 2.0], poll)
    assert max(run.collected.values()) <= poll.probes[0] * 45.0 + 0.2 + 1e-9
    assert run.rounds == 1


@pytest.mark.parametrize("took", [1.0, 8.0, 20.0, 30.0])
def test_a_task_quicker_than_the_prior_waits_for_the_next_probe_not_the_prior(took: float) -> None:
    """With a 45 s guess and no task seen yet, a task that takes ``took`` seconds is
    collected at the first probe share after it is done: with a quarter as the only
    probe, a 20 s task waited out the whole 45 s (and a 1 s one in `figbuild watch` 11 s)."""
    poll = PollSchedule(initial=0.5, factor=1.5, cap=10.0, expected=45.0)
    run = simulate([0.0], [took], poll)
    next_probe = min(share * 45.0 for share in (*poll.probes, 1.0) if share * 45.0 >= took)
    assert run.collected[0] <= next_probe * (1 + MARGIN) + 1e-9
    assert run.collected[0] <= 2 * took + 5.0  # never more than twice the task, plus a few seconds


def test_without_an_expectation_looks_grow_from_initial_by_factor_to_cap() -> None:
    schedule = Schedule(PollSchedule(initial=0.5, factor=2.0, cap=3.0))
    schedule.add("t", 100.0)
    looks = []
    for _ in range(6):
        when = schedule.next_round()
        assert when is not None
        looks.append(when - 100.0)
        schedule.working("t", when)
    assert looks == [0.5, 1.0, 2.0, 4.0, 7.0, 10.0]  # gaps 0.5, 1, 2, then the cap of 3


def test_what_the_run_saw_replaces_the_expectation() -> None:
    schedule = Schedule(PRIOR)
    for n, at in enumerate((10.0, 10.5, 11.0)):
        schedule.add(f"t{n}", at)
    assert schedule.due("t0") == pytest.approx(10.0 + 1.0 * (1 + MARGIN))
    schedule.done("t0", 10.4)  # done 0.4 s after its submission: quicker than expected
    schedule.discard("t0")
    assert schedule.duration() == pytest.approx(0.4)
    assert schedule.due("t1") == pytest.approx(10.5 + 0.4 * (1 + MARGIN))
    assert schedule.due("t2") == pytest.approx(11.0 + 0.4 * (1 + MARGIN))


@pytest.mark.parametrize(("prior", "after"), [(1.0, 1.0), (3.0, 2.0), (None, 2.0)])
def test_durations_the_server_reports_stand_until_the_run_sees_one(prior: float | None, after: float) -> None:
    """completed_at - created_at of listed tasks (whole seconds) replace the prior; once
    a task of the run is seen done (2 s), the prior stands only if it agrees."""
    schedule = Schedule(PollSchedule(initial=0.01, factor=1.5, cap=5.0, expected=prior, probes=()))
    schedule.add("t", 0.0)
    for seconds in (3.0, 4.0, 30.0):
        schedule.reported(seconds)
    assert schedule.duration() == 4.0  # the median: one slow task does not move it
    assert schedule.next_round() == pytest.approx(4.0 * (1 + MARGIN))
    schedule.done("t", 2.0)
    assert schedule.duration() == after


def test_a_task_not_done_when_expected_is_looked_at_after_a_share_of_its_age() -> None:
    schedule = Schedule(PollSchedule(initial=0.01, factor=1.5, cap=0.5, expected=1.0, late=0.1, probes=()))
    schedule.add("t", 0.0)
    schedule.working("t", 2.0)
    assert schedule.due("t") == pytest.approx(2.0 + 0.2)
    schedule.working("t", 20.0)
    assert schedule.due("t") == pytest.approx(20.5), "at most cap apart"


def test_an_earlier_runs_task_is_looked_at_at_once() -> None:
    schedule = Schedule(PRIOR)
    schedule.add("old", None)
    assert schedule.next_round() == -math.inf
    schedule.working("old", 5.0)
    assert schedule.due("old") == 5.0 + PRIOR.cap


def test_a_round_waits_for_a_share_of_the_batch_but_not_past_the_slack() -> None:
    schedule = Schedule(PollSchedule(initial=0.01, factor=1.5, cap=5.0, expected=10.0, probes=()))
    for n in range(9):
        schedule.add(f"t{n}", n * 0.1)  # due 0.1 s apart from 10.1
    group = math.ceil(9 / GROUPS)  # a round's worth
    assert schedule.next_round() == pytest.approx((group - 1) * 0.1 + 10.0 * (1 + MARGIN))
    wide = Schedule(PollSchedule(initial=0.01, factor=1.5, cap=5.0, expected=10.0, probes=()))
    for n in range(9):
        wide.add(f"t{n}", n * 2.0)  # 2 s apart: waiting for the third costs more than the slack
    assert wide.next_round() == pytest.approx(10.0 * (1 + MARGIN) + SLACK * 10.0)


# -- the backend's rounds against the emulator ------------------------------------


def make_paper(root: Path, figures: int) -> Paper:
    root.mkdir()
    lines = ["version: 1", "figures:"]
    for n in range(figures):
        lines += [f"  fig-{n:02d}:", f"    prompt: A small diagram number {n}", "    resolution: 1K"]
    (root / "figures.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Paper.open(root)


@settings(max_examples=8, deadline=None)
@given(
    figures=st.integers(min_value=1, max_value=24),
    latency=st.sampled_from([0.1, 0.3]),
    jitter=st.sampled_from([0.0, 0.3]),
    rpm=st.sampled_from([30, 120]),
)
def test_a_sync_pays_once_per_figure_within_the_rate_limit_and_few_polls(
    tmp_path_factory: pytest.TempPathFactory, figures: int, latency: float, jitter: float, rpm: int
) -> None:
    root = tmp_path_factory.mktemp("paper") / "paper"
    paper = make_paper(root, figures)
    poll = PollSchedule(initial=0.01, factor=1.5, cap=latency, expected=latency)
    config = EmulatorConfig(latency=latency, jitter=jitter, rpm=rpm, window=2.0, seed=figures)
    with (
        Emulator(config) as server,
        Client(Settings(base_url=server.base_url, key="sk-poll", window=2.0)) as client,
    ):
        result = engine.sync(paper, ApiBackend(client, RetryPolicy(poll=poll)), NullReporter())
        records = server.records()
        charged = server.credits_charged
    assert sorted(result.generated) == [f"fig-{n:02d}" for n in range(figures)]
    api = [r for r in records if r.path.startswith("/api/")]
    submits = [r for r in api if r.method == "POST"]
    assert len(submits) == figures, "one submission per figure, never two for one request"
    assert charged == 10 * figures, "credits charged are those of the distinct submissions"
    assert not [r for r in records if r.status == 429], "the client stays under the configured rpm"
    downloads = [r for r in records if r.path.startswith("/files/")]
    assert len(downloads) == figures, "every image downloaded once"
    polls = len(api) - 1 - figures  # all but /credits and the submissions
    # The simulation's bound, from what the server saw: how far apart the submissions
    # came and how far apart the tasks' latencies were (no clock is read here).
    times = server.service.task_times()
    took = [done - created for created, done in times]
    created = [c for c, _ in times]
    spread = max(created) - min(created) + max(took) - min(took)
    step = min(SLACK, poll.late) * min(took)
    discovery = (
        math.ceil(math.log(max(took) / latency) / math.log(1 + poll.late)) if latency < max(took) else 0
    )
    assert polls <= GROUPS + 2 + math.ceil(spread / step) + discovery + len(poll.probes)


def job(prompt: str) -> Job:
    request = Request("standard", prompt, "nano-banana-pro", "1K", "1:1")
    parts = {"type": "standard", "model": "nano-banana-pro", "resolution": "1K", "aspect_ratio": "1:1"}
    parts["prompt"] = hashlib.sha256(prompt.encode()).hexdigest()
    return Job(prompt, request, "PNG", parts)


def test_the_backend_learns_durations_from_the_task_list(tmp_path: Path) -> None:
    """The key's earlier tasks, listed with created_at and completed_at, tell how long
    tasks take before this run has seen one finish."""
    with (
        Emulator(EmulatorConfig(latency=1.0)) as server,
        Client(Settings(base_url=server.base_url, key="sk-hints")) as client,
    ):
        earlier = ApiBackend(client, RetryPolicy(poll=PollSchedule(initial=0.05, factor=1.5, cap=0.2)))
        tickets = [earlier.submit(job(f"earlier {n}")) for n in range(3)]
        threads = [threading.Thread(target=earlier.wait, args=(t,)) for t in tickets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        backend = ApiBackend(client, RetryPolicy(poll=PollSchedule(initial=0.05, factor=1.5, cap=0.2)))
        schedule = backend._tracker.schedule
        assert schedule.duration() is None  # nothing known yet: discovery
        later = [backend.submit(job(f"later {n}")) for n in range(BATCH_FROM)]  # enough to list
        threads = [threading.Thread(target=backend.wait, args=(t,)) for t in later]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    # The first round's list page showed the three earlier tasks, each 1 s on the
    # server's clock (whole seconds): the schedule took them before any of its own.
    assert schedule.reported_durations[:3] == (1.0, 1.0, 1.0)


# -- group commit (store/group.py), which the store's puts go through -------------


def test_a_group_commit_answers_each_caller_its_own_result_and_refusal() -> None:
    from figbuild.store.group import GroupCommit

    batches: list[list[int]] = []
    release = threading.Event()

    def commit(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        if len(batches) == 1:
            release.wait(5)  # the first batch holds the commit while the others queue
        return [ValueError(f"odd {n}") if n % 2 else n * 10 for n in items]

    group: GroupCommit[int, int] = GroupCommit(commit)
    results: dict[int, int | str] = {}

    def put(n: int) -> None:
        try:
            results[n] = group.submit(n)
        except ValueError as exc:
            results[n] = str(exc)

    first = threading.Thread(target=put, args=(0,))
    first.start()
    while not batches:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=put, args=(n,)) for n in range(1, 9)]
    for thread in others:
        thread.start()
    while len(group._queue) < 8:  # every other caller queued behind the first batch
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert results == {n: (f"odd {n}" if n % 2 else n * 10) for n in range(9)}
    assert [sorted(batch) for batch in batches] == [[0], list(range(1, 9))], "one commit for the eight"


def test_the_client_keeps_a_connection_per_worker() -> None:
    """requests keeps 10 connections per host: a sync's 50 workers threw the rest away
    and opened a new connection for each request past the tenth."""
    with Client(Settings(base_url="http://127.0.0.1:9", key="sk-pool")) as client:
        adapter = client._session.get_adapter("http://127.0.0.1:9/api/v1/credits")
        assert adapter._pool_maxsize >= engine.MAX_JOBS  # type: ignore[attr-defined]
