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
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import make_paper

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
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
    figures: int, latency: float, rpm: int, window: float, image_scale: float = 0.25
) -> dict[str, float]:
    scale = latency / REAL_LATENCY  # the default poll policy, scaled like the latency
    default = PollSchedule()
    policy = RetryPolicy(poll=PollSchedule(default.initial * scale, default.factor, default.cap * scale))
    config = EmulatorConfig(latency=latency, rpm=rpm, window=window, image_scale=image_scale, credits=10**7)
    with tempfile.TemporaryDirectory() as tmp, Emulator(config) as server:
        root = make_paper(Path(tmp) / "paper", figures, resolution="1K")
        paper = Paper.open(root)
        with Client(Settings(base_url=server.base_url, key="sk-bench", window=window)) as client:
            started = time.perf_counter()
            result = engine.sync(paper, ApiBackend(client, policy), NullReporter())
            wall = time.perf_counter() - started
        api = [r for r in server.records() if r.path.startswith("/api/")]
        bound = lower_bound(figures, latency, rpm, window)
        return {
            "figures": figures,
            "latency_s": latency,
            "rpm": rpm,
            "window_s": window,
            "generated": len(result.generated),
            "wall_s": wall,
            "lower_bound_s": bound,
            "ratio_to_bound": wall / bound,
            "requests_per_figure": len(api) / figures,
            "responses_429": sum(1 for r in api if r.status == 429),
            "credits_charged": server.credits_charged,
            "credits_expected": 10 * figures,
            # This process also runs the emulator, which draws every image.
            "peak_rss_mb_with_emulator": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", type=int, default=50)
    parser.add_argument("--latency", type=float, default=3.0)
    parser.add_argument("--rpm", type=int, default=120)
    parser.add_argument("--window", type=float, default=4.0)
    args = parser.parse_args()
    print(json.dumps(regenerate(args.figures, args.latency, args.rpm, args.window), indent=2))


if __name__ == "__main__":
    main()
