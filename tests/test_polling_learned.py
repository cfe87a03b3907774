"""What the poll schedule (backends/paperbanana/polling.py) learns of how long tasks take,
and keeps for the backend's lifetime: a `figbuild watch` session's later passes use it
instead of the prior's probes. In simulated time, and against the emulator over loopback
(request counts and what the schedule expects, never timings)."""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild.backends.base import Job, Ticket
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.polling import MARGIN, Schedule
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.report import NullReporter
from figbuild.request import Request
from figbuild.watch import Watcher, WatchOptions

#: The shipped schedule: a 45 s prior, probed at its shares.
SHIPPED = RetryPolicy().poll


def job(prompt: str) -> Job:
    request = Request("standard", prompt, "nano-banana-pro", "1K", "1:1")
    parts = {"type": "standard", "model": "nano-banana-pro", "resolution": "1K", "aspect_ratio": "1:1"}
    parts["prompt"] = hashlib.sha256(prompt.encode()).hexdigest()
    return Job(prompt, request, "PNG", parts)


def _diagrams(root: Path, count: int, edit: str) -> None:
    """A manifest of ``count`` small diagrams; ``edit`` appended to the first one's prompt."""
    lines = ["version: 1", "figures:"]
    for n in range(count):
        prompt = f"A small diagram {n}{edit if n == 0 else ''}"
        lines += [f"  fig-{n}:", f"    prompt: {prompt}", "    resolution: 1K"]
    (root / "figures.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_task_first_seen_done_at_a_probe_teaches_the_servers_duration_not_the_probes() -> None:
    """A 1 s task first looked at by the prior's first probe (5.6 s) says only that it
    took at most 5.6 s; the server said 1 s. The next task is expected after 1 s: it
    waited out the probe's 5.6 s (figbuild watch's 4.7 s after each save)."""
    assert SHIPPED.expected is not None
    schedule = Schedule(SHIPPED)
    schedule.add("first", 0.0)
    probe = schedule.next_round()
    assert probe == pytest.approx(SHIPPED.probes[0] * SHIPPED.expected)
    schedule.done("first", probe + 0.01)
    schedule.reported(1.0)  # completed_at - created_at, as the server listed it
    schedule.discard("first")
    schedule.add("next", 100.0)
    assert schedule.duration() == 1.0
    assert schedule.next_round() == pytest.approx(100.0 + 1.0 * (1 + MARGIN))


@settings(max_examples=300, deadline=None)
@given(
    first=st.floats(0.0, 60.0),
    reported=st.lists(st.integers(0, 100).map(float), min_size=0, max_size=5),
    prior=st.one_of(st.none(), st.floats(0.1, 100.0)),
    took=st.floats(0.0, 200.0),
)
def test_looks_at_a_task_still_working_are_not_closer_than_the_shortest_gap(
    first: float, reported: list[float], prior: float | None, took: float
) -> None:
    """Whatever the server reported and a first task showed (done at its first look,
    ``first`` s in), a task that takes ``took`` s is looked at ``initial`` apart or more
    (but once), and is expected no later than the quickest seen done. A duration
    reported shorter than the task was seen working for made every look wait a
    0.5 % margin more than the last: a poll every few milliseconds (test_watch)."""
    poll = PollSchedule(initial=0.5, factor=1.5, cap=10.0, expected=prior)
    schedule = Schedule(poll)
    schedule.add("first", 0.0)
    schedule.done("first", first)
    for seconds in reported:
        schedule.reported(seconds)
    schedule.discard("first")
    schedule.add("task", 1000.0)
    looks: list[float] = []
    for _ in range(30):
        duration = schedule.duration()
        assert duration is not None
        assert duration <= first
        when = schedule.next_round()
        assert when is not None
        looks.append(max(when, looks[-1] if looks else -math.inf))
        if looks[-1] - 1000.0 >= took:
            break
        schedule.working("task", looks[-1])
    gaps = [later - earlier for earlier, later in itertools.pairwise(looks)]
    # One look may come sooner: at the expected time, just after a late look.
    assert sum(gap < poll.initial - 1e-9 for gap in gaps) <= 1, looks


def test_a_watch_pass_uses_what_the_earlier_passes_learned(tmp_path: Path) -> None:
    """One backend lives as long as `figbuild watch`: the second pass's task is looked
    at once, when the first pass's tasks say it is done (the server's 1 s), not when
    the prior's probe found them done (2 s into a 16 s prior)."""
    root = tmp_path / "paper"
    root.mkdir()

    def write(edit: str) -> None:
        _diagrams(root, 3, edit)

    write("")
    poll = PollSchedule(initial=0.05, factor=1.5, cap=1.0, expected=16.0)
    with (
        Emulator(EmulatorConfig(latency=1.0)) as server,
        Client(Settings(base_url=server.base_url, key="sk-watch-learns")) as client,
    ):
        backend = ApiBackend(client, RetryPolicy(poll=poll))
        watcher = Watcher(root, backend, NullReporter(), WatchOptions())
        watcher._pass()
        first = len(server.records())
        schedule = backend._tracker.schedule
        assert schedule.duration() == 1.0, "the server's 1 s, not the probe's 2 s"
        write(", edited")
        watcher._pass()
        second = [r for r in server.records()[first:] if r.path.startswith("/api/")]
    assert [r.method for r in second if r.method == "POST"] == ["POST"], "the edited figure, paid once"
    polls = [r for r in second if "/task" in r.path]
    assert len(polls) == 1, "looked at once, when it was done"


def wait_all(backend: ApiBackend, tickets: list[Ticket]) -> None:
    threads = [threading.Thread(target=backend.wait, args=(ticket,)) for ticket in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)


def test_a_lone_tasks_first_round_reads_the_list_and_learns_the_keys_durations() -> None:
    """While the prior is all the schedule has, the one task's first look is a list page
    (one request, as ``GET /task/:id`` is), which shows the key's finished tasks: their
    durations end the prior's probes. A look at the task alone showed only itself."""
    poll = PollSchedule(initial=0.05, factor=1.5, cap=1.0, expected=16.0)
    with (
        Emulator(EmulatorConfig(latency=1.0)) as server,
        Client(Settings(base_url=server.base_url, key="sk-lone")) as client,
    ):
        earlier = ApiBackend(client, RetryPolicy(poll=PollSchedule(initial=0.05, factor=1.5, cap=0.2)))
        wait_all(earlier, [earlier.submit(job(f"earlier {n}")) for n in range(3)])
        first = len(server.records())
        backend = ApiBackend(client, RetryPolicy(poll=poll))
        schedule = backend._tracker.schedule
        wait_all(backend, [backend.submit(job("alone"))])
        polls = [r.path.split("?")[0] for r in server.records()[first:] if "/task" in r.path]
    assert polls == ["/api/v1/tasks"], "one look, at the list"
    assert len(schedule.reported_durations) == 4, "the three earlier tasks and its own"
    assert schedule.duration() == 1.0


@pytest.mark.parametrize(("latency", "spread"), [(0.5, 0.2), (5.0, 0.2), (45.0, 2.0)])
def test_a_batch_the_prior_is_right_for_costs_at_most_four_rounds(latency: float, spread: float) -> None:
    """50 figures on a new key (nothing to learn from), the shipped schedule scaled to
    the latency as bench/sync_many.py scales it: its probes and the two rounds that
    collect the batch, at most four polls, so at most 1.1 requests per figure with the
    submissions and the balance. With four probe shares a batch paid five or six."""
    scale = latency / 45.0
    assert SHIPPED.expected is not None
    poll = PollSchedule(
        SHIPPED.initial * scale, SHIPPED.factor, SHIPPED.cap * scale, SHIPPED.expected * scale, SHIPPED.late
    )
    schedule, rounds, now = Schedule(poll), 0, 0.0
    submitted = {f"t{n}": spread * n / 49 for n in range(50)}
    waiting, in_flight = sorted(submitted, key=submitted.__getitem__), set()
    while waiting or in_flight:
        when = schedule.next_round()
        if waiting and (when is None or submitted[waiting[0]] <= when):
            task = waiting.pop(0)
            now = max(now, submitted[task])
            schedule.add(task, now)
            in_flight.add(task)
            continue
        assert when is not None
        now, rounds = max(now, when), rounds + 1
        for task in sorted(in_flight):
            if submitted[task] + latency <= now:
                schedule.done(task, now)
                schedule.discard(task)
                in_flight.discard(task)
            else:
                schedule.working(task, now)
    assert rounds <= 4


def _sync_twice(root: Path, poll: PollSchedule) -> tuple[dict[str, tuple[object, ...]], int, int]:
    """Sync a 6-figure paper, edit one prompt, sync again with the same backend (as
    `figbuild watch` does): what the lock says of each figure, submissions, credits."""
    from figbuild import engine
    from figbuild.lockfile import read
    from figbuild.paper import Paper

    root.mkdir()

    def write(edit: str) -> None:
        _diagrams(root, 6, edit)

    config = EmulatorConfig(latency=0.3, jitter=0.3, rpm=600, window=2.0, seed=7)
    with (
        Emulator(config) as server,
        Client(Settings(base_url=server.base_url, key="sk-same", window=2.0)) as client,
    ):
        backend = ApiBackend(client, RetryPolicy(poll=poll))
        write("")
        engine.sync(Paper.open(root), backend, NullReporter())
        write(", edited")
        engine.sync(Paper.open(root), backend, NullReporter())
        posts = sum(1 for r in server.records() if r.method == "POST")
        charged = server.credits_charged
    lock = read(root / "figures.lock")
    seen: dict[str, tuple[object, ...]] = {}
    for figure_id, record in sorted(lock.figures.items()):
        generated = record.generated
        assert generated is not None
        seen[figure_id] = (generated.fingerprint, dict(generated.parts), generated.output, generated.how)
        assert record.pending == (), "nothing left in flight"
    return seen, posts, charged


@pytest.mark.parametrize(
    "poll",
    [
        PollSchedule(initial=0.02, factor=1.5, cap=0.1, expected=0.3),  # the shipped shares, scaled
        PollSchedule(initial=0.02, factor=1.5, cap=0.1, expected=0.3, probes=(0.125, 0.25, 0.5, 0.75)),
        PollSchedule(initial=0.02, factor=1.5, cap=0.1, expected=3.0),  # a prior ten times too long
        PollSchedule(initial=0.02, factor=1.5, cap=0.1, expected=0.03),  # ten times too short
    ],
    ids=["shipped", "four-shares", "prior-long", "prior-short"],
)
def test_when_tasks_are_looked_at_changes_no_lock_and_no_payment(tmp_path: Path, poll: PollSchedule) -> None:
    """Whatever the schedule expects (and learns between the two syncs), the lock
    records the same images of the same requests, and each figure is paid once, as
    with no expectation at all (discovery)."""
    reference = _sync_twice(tmp_path / "reference", PollSchedule(initial=0.02, factor=1.5, cap=0.1))
    assert _sync_twice(tmp_path / "paper", poll) == reference
    assert reference[1:] == (7, 70), "six figures and the edited one, each paid once"
