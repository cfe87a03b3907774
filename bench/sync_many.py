"""Benchmark: a full regeneration against the bundled emulator at the API's pace.

N figures, each task taking ``--latency`` seconds, under a rate limit of ``--rpm``
requests per ``--window`` seconds (the Team Basic limit, 120 per minute, scaled
with the latency: 45 s tasks and a 60 s window become 3 s and 4 s). Prints the wall
time against the lower bound that latency and rate limit impose, API requests per
figure, 429 responses, credits charged against expected, and the peak RSS.

    python bench/sync_many.py [--figures 50] [--latency 3] [--rpm 120] [--window 4]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import make_paper

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.emulator.service import RequestRecord
from figbuild.paper import Paper
from figbuild.report import NullReporter

#: The real API's typical task time, which the default poll policy is tuned for.
REAL_LATENCY = 45.0


def lower_bound(figures: int, latency: float, rpm: int, window: float) -> float:
    """No run can be faster: the last POST waits for its window, then its task runs.

    At least one /credits and one POST per figure must pass the limit of ``rpm``
    requests per ``window``."""
    windows_waited = max(0, math.ceil((figures + 1) / rpm) - 1)
    return windows_waited * window + latency


def regenerate(
    figures: int,
    latency: float,
    rpm: int,
    window: float,
    image_scale: float = 0.25,
    *,
    jitter: float = 0.0,
    prior_error: float = 1.0,
    in_process: bool = False,
) -> dict[str, float]:
    """One sync of ``figures`` stale figures; ``jitter``: each task's latency varies by
    that share; ``prior_error``: the poll schedule expects tasks to take that many times
    the latency before it has seen one finish (1: the real API's 45 s, scaled).

    The emulator runs in a process of its own, as the API does: in this one, drawing
    each image (~14 ms) and serving every request took the interpreter from the sync
    it measured. ``in_process``: as before, for comparison with earlier runs."""
    scale = latency / REAL_LATENCY  # the default poll policy, scaled like the latency
    default = RetryPolicy().poll
    expected = default.expected * scale * prior_error if default.expected is not None else None
    poll = PollSchedule(default.initial * scale, default.factor, default.cap * scale, expected, default.late)
    policy = RetryPolicy(poll=poll)
    config = EmulatorConfig(
        latency=latency, jitter=jitter, rpm=rpm, window=window, image_scale=image_scale, credits=10**7
    )
    serve = _in_process if in_process else _in_a_process
    with tempfile.TemporaryDirectory() as tmp, serve(config) as (base_url, ledger):
        root = make_paper(Path(tmp) / "paper", figures, resolution="1K")
        paper = Paper.open(root)
        with Client(Settings(base_url=base_url, key="sk-bench", window=window)) as client:
            # The emulator's records are on this clock (CLOCK_MONOTONIC: the same in every process).
            started = time.monotonic()
            result = engine.sync(paper, ApiBackend(client, policy), NullReporter())
            ended = time.monotonic()
        records, charged, times = ledger()
        ready = [done for _, done in times]
    api = [r for r in records if r.path.startswith("/api/")]
    downloads = [r for r in records if r.path.startswith("/files/")]
    submits = [r for r in api if r.path.endswith("/generate") and r.status == 200]
    bound = lower_bound(figures, latency, rpm, window)
    wall = ended - started
    return {
        "figures": figures,
        "latency_s": latency,
        "jitter": jitter,
        "prior_error": prior_error,
        "rpm": rpm,
        "window_s": window,
        "generated": len(result.generated),
        "wall_s": wall,
        "lower_bound_s": bound,
        "ratio_to_bound": wall / bound,
        # API requests (credits, submits, polls, list pages) per figure: what the rate limit counts.
        "requests_per_figure": len(api) / figures,
        # Everything sent, image downloads (free, from the image host) included.
        "all_requests_per_figure": (len(api) + len(downloads)) / figures,
        "polls": sum(1 for r in api if "/task" in r.path),
        # API requests by endpoint (what a request count above is made of).
        "requests_by_endpoint": dict(sorted(Counter(_endpoint(r.path) for r in api).items())),
        # When each poll (GET /task/:id or /tasks) was received, seconds after the start.
        "polls_at_s": [(_endpoint(r.path), round(r.time - started, 3)) for r in api if "/task" in r.path],
        "downloads": len(downloads),
        "responses_429": sum(1 for r in records if r.status == 429),
        "credits_charged": charged,
        "credits_expected": 10 * len(submits),
        # Where the time goes: before the first request, the last task's readiness,
        # the last download, and the run's end.
        "first_request_s": records[0].time - started if records else 0.0,
        "last_submit_s": max((r.time for r in submits), default=started) - started,
        "last_ready_s": max(ready, default=started) - started,
        "last_download_s": max((r.time for r in downloads), default=started) - started,
        "emulator_in_process": in_process,
        # With in_process, this process also runs the emulator, which draws every image.
        "peak_rss_mb_with_emulator": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _endpoint(path: str) -> str:
    """``/api/v1/task/abc`` -> ``task``: one name per endpoint, without ids or queries."""
    parts = path.split("?")[0].strip("/").split("/")
    return parts[2] if len(parts) > 2 else parts[-1]


Ledger = Callable[[], tuple[list[RequestRecord], int, list[tuple[float, float]]]]


@contextlib.contextmanager
def _in_process(config: EmulatorConfig) -> Iterator[tuple[str, Ledger]]:
    with Emulator(config) as server:
        yield server.base_url, lambda: (server.records(), server.credits_charged, server.service.task_times())


@contextlib.contextmanager
def _in_a_process(config: EmulatorConfig) -> Iterator[tuple[str, Ledger]]:
    """The emulator in a child process; the ledger asks it for what it received."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(config, theirs), daemon=True)
    child.start()
    try:
        base_url = ours.recv()

        def ledger() -> tuple[list[RequestRecord], int, list[tuple[float, float]]]:
            ours.send("ledger")
            answer: tuple[list[RequestRecord], int, list[tuple[float, float]]] = ours.recv()
            return answer

        yield base_url, ledger
    finally:
        ours.send("stop")
        child.join(10)


def _serve(config: EmulatorConfig, pipe: Connection) -> None:
    with Emulator(config) as server:
        pipe.send(server.base_url)
        while (asked := pipe.recv()) != "stop":
            assert asked == "ledger"
            pipe.send((server.records(), server.credits_charged, server.service.task_times()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", type=int, default=50)
    parser.add_argument("--latency", type=float, default=3.0)
    parser.add_argument("--rpm", type=int, default=120)
    parser.add_argument("--window", type=float, default=4.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--prior-error", type=float, default=1.0)
    parser.add_argument("--in-process", action="store_true", help="the emulator in this process (as before)")
    args = parser.parse_args()
    measured = regenerate(
        args.figures,
        args.latency,
        args.rpm,
        args.window,
        jitter=args.jitter,
        prior_error=args.prior_error,
        in_process=args.in_process,
    )
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
