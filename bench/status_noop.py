"""Benchmark: a no-op `figbuild status` and `figbuild sync` on a paper with many figures,
through the installed console script, against the interpreter's own start-up
(`python -c pass`) measured in the same run.

Builds a paper in a temp dir, fills it with placeholders, waits out the fast path's
racy window, then times both commands as subprocesses (median of 3x --runs, interleaved with
the baseline; the full CLI: median of --runs): as users
run them (the fast path answers), and with FIGBUILD_NO_FASTPATH=1 (the full CLI).
Also the peak RSS of a no-op status against the interpreter's, and where the fast
path's time goes (interpreter, imports, work). A benchmark, not a test.

    python bench/status_noop.py [--figures 200] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    content_bytes,
    figbuild,
    interleaved_medians,
    make_paper,
    median_seconds,
    peak_rss_mb,
    settle,
    user_env,
)

FULL = {"FIGBUILD_NO_FASTPATH": "1"}
PYTHON = [sys.executable, "-c", "pass"]
#: The fast path's own work, timed inside the process: find the paper, load the snapshot,
#: stat every input, write the output. Reports nothing when the snapshot did not answer.
WORK_PROBE = """
import sys, time
import figbuild.__main__
from figbuild import fastpath
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
try:
    fastpath.replay(argv)
except SystemExit:
    open(report, "w").write(repr(time.perf_counter() - start))
"""


def work_seconds(root: Path, runs: int, *args: str) -> float | None:
    """Median in-process time of a replayed ``figbuild ARGS``; None if it was not replayed."""
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "work"
        for _ in range(max(runs, 1)):
            report.unlink(missing_ok=True)
            command = [sys.executable, "-c", WORK_PROBE, str(report), *args]
            subprocess.run(command, cwd=root, env=user_env(), stdout=subprocess.DEVNULL, check=False)
            if not report.exists():
                return None
            samples.append(float(report.read_text()))
    return statistics.median(samples)


def measure(figures: int, runs: int, compare_dvc: bool = False, fresh_clones: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_paper(Path(tmp) / "paper", figures, resolution="1K")
        # Placeholders make every figure have an output: the first sync draws them all.
        started = time.perf_counter()
        subprocess.run(
            figbuild("-q", "sync", "--placeholder"),
            cwd=root,
            env=user_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        placeholder_sync_s = time.perf_counter() - started
        settle()
        full = user_env(**FULL)
        # The baseline and the replayed no-ops take a few ms each: many interleaved runs.
        fast = interleaved_medians(
            {
                "python_s": PYTHON,
                "status_s": figbuild("status"),
                "sync_noop_s": figbuild("sync", "--placeholder"),
            },
            runs * 3,
            cwd=root,
        )
        result: dict[str, Any] = {
            "figures": figures,
            "content_bytes": content_bytes(root),
            **fast,
            "status_full_s": median_seconds(figbuild("status"), runs, cwd=root, env=full),
            "sync_noop_full_s": median_seconds(figbuild("sync", "--placeholder"), runs, cwd=root, env=full),
            "python_rss_mb": peak_rss_mb(PYTHON, runs, cwd=root),
            "status_rss_mb": peak_rss_mb(figbuild("status"), runs, cwd=root),
            "status_full_rss_mb": peak_rss_mb(figbuild("status"), runs, cwd=root, env=full),
        }
        result["work_s"] = work_seconds(root, runs, "status")
        result["placeholder_sync_s"] = placeholder_sync_s
        if fresh_clones:
            from writing import fresh_clone_status

            result["fresh_clone"] = fresh_clone_status(root, fresh_clones, figures)
        if compare_dvc:
            from baselines import dvc_status

            result["dvc_status_s"] = dvc_status(root, runs)
    base = result["python_s"]
    for name in ("status", "sync_noop", "status_full", "sync_noop_full"):
        result[f"{name}_ratio"] = result[f"{name}_s"] / base
    if result["status_rss_mb"] and result["python_rss_mb"]:
        result["rss_ratio"] = result["status_rss_mb"] / result["python_rss_mb"]
    # Where a replayed status spends its time: the interpreter's own start-up, the fast
    # path's work (timed in the process), and the rest (imports, the script wrapper, exit).
    work = result["work_s"] or 0.0
    result["profile"] = {
        "interpreter_s": base,
        "work_s": work,
        "imports_s": max(result["status_s"] - base - work, 0.0),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(measure(args.figures, args.runs), indent=2))


if __name__ == "__main__":
    main()
