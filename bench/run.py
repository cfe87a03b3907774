"""Run every benchmark; write docs/performance.md and bench/results.json.

    python bench/run.py                 the full set (a few minutes)
    python bench/run.py --quick         small sizes, one run each (seconds; what CI runs so
                                        the benchmarks never rot); writes bench/results-quick.json only
    python bench/run.py --compare dvc   also `dvc status` on the 200-figure paper, when dvc
                                        is installed (nothing is installed for it)
    python bench/run.py --render bench/results.json
                                        rewrite docs/performance.md from a full run's results

Every time is reported as a ratio to a baseline measured in the same run.

Nothing here asserts a timing: the numbers are for people to read.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import latexmk_noop
from common import figbuild, make_paper, user_env
from status_noop import measure as measure_noop
from sync_many import regenerate
from writing import have_latex, latexmk_rebuild, make_pdf_noop, status_after_edit

from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import read

HERE = Path(__file__).resolve().parent

MEMORY_CHILD = """
import resource, sys
from pathlib import Path
from figbuild import engine
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.settings import Settings
from figbuild.paper import Paper
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.report import NullReporter
root, url = sys.argv[1], sys.argv[2]
with Client(Settings(base_url=url, key="sk-bench")) as client:
    backend = ApiBackend(client, RetryPolicy(poll=PollSchedule(0.2, 1.5, 1.0)))
    result = engine.sync(Paper.open(Path(root)), backend, NullReporter())
# VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so it would report the
# forking parent (which runs the emulator) instead of this process.
try:
    peak_mb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
except OSError:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 2**20  # macOS: bytes
print(len(result.generated), peak_mb)
"""


def memory(figures: int) -> dict[str, Any]:
    """Peak RSS of a separate sync process fetching ``figures`` real-size 4K images."""
    config = EmulatorConfig(latency=1.0, image_scale=1.0, credits=10**7, rpm=600)
    with tempfile.TemporaryDirectory() as tmp, Emulator(config) as server:
        root = make_paper(Path(tmp) / "paper", figures, resolution="4K")
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(root), server.base_url],
            capture_output=True,
            text=True,
            check=True,
            env=user_env(),
        ).stdout.split()
        image_bytes = sum(p.stat().st_size for p in (root / "figures").iterdir())
    return {
        "figures": figures,
        "generated": int(out[0]),
        "peak_rss_mb": int(out[1]),
        "image_mb": round(image_bytes / 2**20, 1),
    }


def watch_latency(edits: int, settle: float = 0.5, latency: float = 1.0) -> dict[str, Any]:
    """Seconds from a content file's save to its regenerated figure on disk, minus the
    settle time and the task's latency: what figbuild itself adds."""
    config = EmulatorConfig(latency=latency, image_scale=0.25)
    with tempfile.TemporaryDirectory() as tmp, Emulator(config) as server:
        root = make_paper(Path(tmp) / "paper", 4, files=4, resolution="1K")
        env = user_env(PAPERBANANA_BASE_URL=server.base_url, PAPERBANANA_API_KEY="sk-bench")
        process = subprocess.Popen(
            figbuild("watch", "--settle", str(settle)),
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _until(lambda: _fingerprint(root, "fig-0000") is not None, 60)
            first_pass = len(server.records())
            samples = []
            for edit in range(edits):
                before = _fingerprint(root, "fig-0000")
                target = root / "sections" / "part-0000.tex"
                saved = time.monotonic()
                target.write_text(target.read_text() + f"\nEdit {edit}.\n")
                _until(lambda before=before: _fingerprint(root, "fig-0000") not in (None, before), 60)
                samples.append(time.monotonic() - saved - settle - latency)
                time.sleep(settle)
        finally:
            process.terminate()
            process.wait(timeout=20)
        later = server.records()[first_pass:]
        polls = sum(1 for r in later if r.path.startswith("/api/") and "/task" in r.path)
        tasks = sum(1 for r in later if r.method == "POST" and r.status == 200)
    return {
        "edits": edits,
        "settle_s": settle,
        "task_latency_s": latency,
        "overhead_s": statistics.median(samples),
        "samples_s": samples,
        # Looks at tasks (GET /task/:id or /tasks) per task the edits submitted, after the
        # first pass: 1 once the session has learned how long tasks take.
        "polls_per_task": polls / max(1, tasks),
    }


def _fingerprint(root: Path, figure_id: str) -> str | None:
    """What the figure on disk was generated from, once it is written and recorded."""
    try:
        generated = read(root / "figures.lock").record(figure_id).generated
    except Exception:  # the lock is being replaced, or not there yet
        return None
    return generated.fingerprint if generated else None


def _until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(0.01)


def run(quick: bool, compare: tuple[str, ...] = ()) -> dict[str, Any]:
    runs = 1 if quick else 7
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "date": datetime.date.today().isoformat(),
        "quick": quick,
    }
    if have_latex():
        results["rebuild"] = latexmk_rebuild(runs, generated=not quick)
        results["make_pdf"] = make_pdf_noop(runs)
    results["after_edit"] = status_after_edit(runs)
    # (figures, timed runs, fresh clones): the 10,000-figure paper's full-CLI runs take seconds each.
    sizes = [(10, 1, 1), (50, 1, 0)] if quick else [(200, runs, 5), (2000, runs, 3), (10_000, 3, 0)]
    results["noop"] = [
        measure_noop(n, r, compare_dvc="dvc" in compare and n == sizes[0][0], fresh_clones=clones)
        for n, r, clones in sizes
    ]
    results["latexmk"] = latexmk_noop(runs)
    # Latency 0.5 s and 5 s at Team Basic's 120 requests a minute (50 figures fit one
    # minute's window: nothing to scale); and 200 figures with latency and window scaled.
    scale = (
        [(20, 0.5, 120, 60.0)]
        if quick
        else [(50, 0.5, 120, 60.0), (50, 5.0, 120, 60.0), (200, 3.0, 120, 4.0)]
    )
    results["regeneration"] = [regenerate(n, latency, rpm, window) for n, latency, rpm, window in scale]
    results["memory"] = [memory(n) for n in ((2, 4) if quick else (5, 20))]
    results["watch"] = watch_latency(1 if quick else 5)
    return results


PASS = "`python -c pass`"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def writing_rows(results: dict[str, Any]) -> list[str]:
    """Issue 25's table: figbuild while a paper is being written."""
    rows = []
    for r in results.get("rebuild", []):
        what = "example paper" if r["paper"] == "example paper" else f"generated paper, {r['paper']}"
        rows.append(
            f"| one-pass `latexmk -pdf` after a prose edit, shipped `.latexmkrc`, no key ({what}) "
            f"| wall time, median | {_ms(r['hooks_s'])} | `latexmk -norc -pdf` (no hooks): "
            f"{_ms(r['no_hooks_s'])} | {r['ratio']:.2f}x (goal ≤ 1.10x) |"
        )
    edit = results["after_edit"]
    rows.append(
        f"| `figbuild status` after a one-file edit, {edit['files']} files, "
        f"{edit['content_bytes'] / 1e6:.1f} MB | wall time, median | {_ms(edit['status_s'])} "
        f"| {PASS}: {_ms(edit['python_s'])} | {edit['ratio']:.2f}x (goal ≤ 4x) |"
    )
    goals = {200: "≤ 10x", 2000: "≤ 40x"}
    for n in results["noop"]:
        clone = n.get("fresh_clone")
        if clone:
            goal = f" (goal {goals[clone['figures']]})" if clone["figures"] in goals else ""
            rows.append(
                f"| first `figbuild status` in a fresh clone (new path, empty cache), {clone['figures']} "
                f"figures | wall time, median | {_ms(clone['status_s'])} | {PASS}: {_ms(clone['python_s'])} "
                f"| {clone['ratio']:.1f}x{goal} |"
            )
    make = results.get("make_pdf")
    if make:
        rows.append(
            "| no-op `make pdf`, example paper as shipped, no key | wall time, median "
            f"| {_ms(make['make_s'])} "
            f"| no-op `latexmk -pdf`: {_ms(make['latexmk_s'])} | {make['ratio']:.2f}x (goal ≤ 1.3x) |"
        )
    by_size = {n["figures"]: n for n in results["noop"]}
    if 2000 in by_size and 10_000 in by_size:
        small, large = by_size[2000], by_size[10_000]
        for key, what in (
            ("sync_noop_full_s", "no-op `sync --placeholder`, full CLI"),
            ("status_full_s", "no-op `status`, full CLI"),
            ("placeholder_sync_s", "first `sync --placeholder` (draws every figure)"),
        ):
            rows.append(
                f"| {what}, 10,000 figures | wall time | {large[key]:.2f} s | 2,000 figures: "
                f"{small[key]:.2f} s | {large[key] / small[key]:.2f}x (linear: 5x; goal ≤ 6x) |"
            )
    return rows


def table(results: dict[str, Any]) -> str:
    rows = ["| benchmark | measures | result | baseline (same run) | ratio |", "|---|---|---|---|---|"]
    rows += writing_rows(results)
    goals = {200: "goal ≤ 1.5x", 2000: "goal ≤ 2x", 10_000: "goal ≤ 3x"}
    for n in results["noop"]:
        figures, python = n["figures"], f"{PASS}: {_ms(n['python_s'])}"
        goal = f" ({goals[figures]})" if figures in goals else ""
        for key, what in (
            ("status", "no-op `figbuild status`"),
            ("sync_noop", "no-op `figbuild sync`"),
            ("status_full", "no-op `status`, full CLI"),
            ("sync_noop_full", "no-op `sync`, full CLI"),
        ):
            shown = goal if key in ("status", "sync_noop") else ""
            rows.append(
                f"| {what}, {figures} figures | wall time, median | {_ms(n[key + '_s'])} "
                f"| {python} | {n[key + '_ratio']:.2f}x{shown} |"
            )
        if n.get("rss_ratio"):
            rows.append(
                f"| no-op `figbuild status`, {figures} figures | peak RSS | {n['status_rss_mb']:.1f} MB "
                f"| {PASS}: {n['python_rss_mb']:.1f} MB | {n['rss_ratio']:.2f}x (goal ≤ 1.5x) |"
            )
        if n.get("dvc_status_s"):
            rows.append(
                f"| `dvc status`, {figures} figures | wall time, median | {_ms(n['dvc_status_s'])} "
                f"| no-op `figbuild status`: {_ms(n['status_s'])} "
                f"| {n['dvc_status_s'] / n['status_s']:.1f}x |"
            )
    latexmk = results.get("latexmk")
    if latexmk and "error" not in latexmk:
        rows.append(
            f"| no-op `figbuild sync --best-effort`, example paper | wall time, median | "
            f"{_ms(latexmk['sync_noop_s'])} | no-op `latexmk -pdf`: {_ms(latexmk['latexmk_s'])} "
            f"| {latexmk['ratio']:.2f}x (goal ≤ 0.3x) |"
        )
    for r in results["regeneration"]:
        what = (
            f"regenerate {r['figures']} figures, latency {r['latency_s']:g} s, "
            f"{r['rpm']} per {r['window_s']:g} s"
        )
        goal = (
            {0.5: " (goal ≤ 2x)", 5.0: " (goal ≤ 1.15x)"}.get(r["latency_s"], "")
            if r["figures"] == 50
            else ""
        )
        rows.append(
            f"| {what} | wall time | {r['wall_s']:.2f} s "
            f"| latency + rate limit: {r['lower_bound_s']:.1f} s | {r['ratio_to_bound']:.2f}x{goal} |"
        )
        rows.append(f"| {what} | API requests per figure | {r['requests_per_figure']:.2f} | goal ≤ 1.1 | - |")
        rows.append(
            f"| {what} | all requests per figure, downloads too; polls | "
            f"{r['all_requests_per_figure']:.2f}; {r['polls']} | one download each: "
            f"{1 + r['requests_per_figure']:.2f} | - |"
        )
        rows.append(
            f"| {what} | where the time goes: first request, last submission, last task done, "
            f"last download, end | {r['first_request_s']:.2f} / {r['last_submit_s']:.2f} / "
            f"{r['last_ready_s']:.2f} / {r['last_download_s']:.2f} / {r['wall_s']:.2f} s | - | - |"
        )
        rows.append(
            f"| {what} | 429 responses; credits charged | "
            f"{r['responses_429']}; {r['credits_charged']} | 0; {r['credits_expected']} | - |"
        )
    base = results["memory"][0]
    for m in results["memory"]:
        rows.append(
            f"| sync {m['figures']} figures at 4K ({m['image_mb']} MB of images) | peak RSS | "
            f"{m['peak_rss_mb']} MB | {base['figures']} figures: {base['peak_rss_mb']} MB | "
            f"{m['peak_rss_mb'] / base['peak_rss_mb']:.2f}x |"
        )
    w = results["watch"]
    rows.append(
        f"| watch: save to figure on disk | minus settle ({w['settle_s']} s) "
        f"and task ({w['task_latency_s']} s) | {_ms(w['overhead_s'])} | - | - |"
    )
    return "\n".join(rows)


#: Issue 25's rows as measured before it (2026-11-26 and the issue's own runs), beside
#: which each run prints its own: ratios to a baseline of the same run, not times.
BEFORE_25 = [
    ("rebuild after a prose edit, example paper: shipped rc / no hooks", "1.97x (695 vs 354 ms)"),
    (
        "rebuild after a prose edit, 60 files / 1 MB: shipped rc / no hooks",
        "not measured (0.35-0.8 s a pass)",
    ),
    ("no-op status / sync vs `python -c pass`, 200 figures", "1.93x / 1.88x"),
    ("no-op status / sync vs `python -c pass`, 2,000 figures", "2.35x / 2.33x"),
    ("no-op status / sync vs `python -c pass`, 10,000 figures", "not measured"),
    ("status after a one-file edit (1 MB, 60 files) vs start-up", "14.7x"),
    ("first status in a fresh clone vs start-up, 200 / 2,000 figures", "38x / 169x"),
    ("no-op `make pdf` (no key) vs no-op latexmk", "3.8x"),
    ("regenerate 50, latency 0.5 s: time / bound; requests per figure; 429s", "4.5x; 1.06; 0"),
    ("regenerate 50, latency 5 s: time / bound; requests per figure; 429s", "not measured"),
    ("no-op full-path placeholder sync, 10,000 / 2,000 figures", "16.9x (7.1 s vs 0.42 s)"),
    ("first placeholder sync, 10,000 figures", "359 s"),
]


def before_after(results: dict[str, Any]) -> str:
    """Each of issue 25's rows: before it, and in this run."""
    noop = {n["figures"]: n for n in results["noop"]}
    rebuild = {r["paper"]: r for r in results.get("rebuild", [])}
    regen = {(r["figures"], r["latency_s"]): r for r in results["regeneration"]}

    def pair(n: int) -> str:
        return f"{noop[n]['status_ratio']:.2f}x / {noop[n]['sync_noop_ratio']:.2f}x" if n in noop else "-"

    def regenerated(latency: float) -> str:
        r = regen.get((50, latency))
        if r is None:
            return "-"
        return f"{r['ratio_to_bound']:.2f}x; {r['requests_per_figure']:.2f}; {r['responses_429']}"

    clones = [noop[n]["fresh_clone"]["ratio"] for n in (200, 2000) if noop.get(n, {}).get("fresh_clone")]
    large = noop.get(10_000)
    after = [
        f"{rebuild['example paper']['ratio']:.2f}x" if "example paper" in rebuild else "-",
        f"{rebuild['60 files, 1 MB']['ratio']:.2f}x" if "60 files, 1 MB" in rebuild else "-",
        pair(200),
        pair(2000),
        pair(10_000),
        f"{results['after_edit']['ratio']:.1f}x",
        " / ".join(f"{ratio:.0f}x" for ratio in clones) or "-",
        f"{results['make_pdf']['ratio']:.2f}x" if results.get("make_pdf") else "-",
        regenerated(0.5),
        regenerated(5.0),
        f"{large['sync_noop_full_s'] / noop[2000]['sync_noop_full_s']:.1f}x "
        f"({large['sync_noop_full_s']:.2f} s vs {noop[2000]['sync_noop_full_s']:.2f} s)"
        if large and 2000 in noop
        else "-",
        f"{large['placeholder_sync_s']:.0f} s "
        f"({large['placeholder_sync_s'] / noop[2000]['placeholder_sync_s']:.1f}x the 2,000-figure one)"
        if large and 2000 in noop
        else "-",
    ]
    rows = ["| issue 25 row | before | this run |", "|---|---|---|"]
    rows += [f"| {what} | {before} | {now} |" for (what, before), now in zip(BEFORE_25, after, strict=True)]
    return "\n".join(rows)


def profile(results: dict[str, Any]) -> str:
    """Where a replayed no-op status spends its time, per paper size."""
    lines = ["Where a no-op `figbuild status` answered by the fast path spends its time (medians):", ""]
    for n in results["noop"]:
        p = n["profile"]
        lines.append(
            f"- {n['figures']} figures: interpreter start-up {p['interpreter_s'] * 1000:.1f} ms, "
            f"imports and the rest (the script, `figbuild.__main__`, `figbuild.fastpath`; exit) "
            f"{p['imports_s'] * 1000:.1f} ms, work (find the paper, load the snapshot, stat every input, "
            f"print; timed in the process) {p['work_s'] * 1000:.1f} ms."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--compare", action="append", choices=["dvc"], default=[], help="also time another tool"
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: rewrite docs/performance.md from the results of an earlier full run",
    )
    args = parser.parse_args()
    if args.render:
        results = json.loads(args.render.read_text(encoding="utf-8"))
    else:
        results = run(args.quick, tuple(args.compare))
        output = HERE / ("results-quick.json" if args.quick else "results.json")
        output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    if not results["quick"]:
        document = HERE.parent / "docs" / "performance.md"
        text = document.read_text(encoding="utf-8")
        start, end = "<!-- results:start -->", "<!-- results:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        stamp = f"Measured {results['date']} on {results['machine']} (`python bench/run.py`).\n\n"
        body = f"{stamp}{table(results)}\n\n{before_after(results)}\n\n{profile(results)}"
        document.write_text(f"{head}{start}\n{body}\n{end}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
