"""What the poll schedule (backends/paperbanana/polling.py) learns of how long tasks take,
and keeps for the backend's lifetime: a `figbuild watch` session's later passes use it
instead of the prior's probes. In simulated time, and against the emulator over loopback
(request counts and what the schedule expects, never timings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.polling import MARGIN, REPORTED_PRECISION, Schedule
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.report import NullReporter
from figbuild.watch import Watcher, WatchOptions

#: The shipped schedule: a 45 s prior, probed at its shares.
SHIPPED = RetryPolicy().poll


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
    working=st.floats(0.0, 100.0),
    quicker=st.floats(0.0, 100.0),
    reported=st.lists(st.integers(0, 200).map(float), min_size=0, max_size=5),
    prior=st.one_of(st.none(), st.floats(0.1, 100.0)),
)
def test_what_the_run_saw_bounds_every_expectation(
    working: float, quicker: float, reported: list[float], prior: float | None
) -> None:
    """Once a task was seen done, the expected duration is never longer than the quickest
    seen done, and never shorter than the longest seen working unless the two disagree
    (jitter); the server's whole seconds are taken only where what was seen is looser."""
    schedule = Schedule(PollSchedule(initial=0.01, factor=1.5, cap=5.0, expected=prior))
    schedule.add("working", 0.0)
    schedule.add("done", 0.0)
    schedule.working("working", working)
    schedule.done("done", working + quicker)
    for seconds in reported:
        schedule.reported(seconds)
    duration = schedule.duration()
    assert duration is not None
    seen_working, seen_done = working, working + quicker
    assert duration <= seen_done
    assert duration >= seen_working or duration == seen_done
    if not reported or quicker <= REPORTED_PRECISION:
        assert duration in (seen_done, prior)


def test_a_watch_pass_uses_what_the_earlier_passes_learned(tmp_path: Path) -> None:
    """One backend lives as long as `figbuild watch`: the second pass's task is looked
    at once, when the first pass's tasks say it is done (the server's 1 s), not when
    the prior's probe found them done (2 s into a 16 s prior)."""
    root = tmp_path / "paper"
    root.mkdir()
    manifest = root / "figures.yaml"

    def write(edit: str) -> None:
        lines = ["version: 1", "figures:"]
        for n in range(3):
            prompt = f"A small diagram {n}{edit if n == 0 else ''}"
            lines += [f"  fig-{n}:", f"    prompt: {prompt}", "    resolution: 1K"]
        manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")

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
