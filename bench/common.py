"""Shared helpers for the benchmarks: generated papers, timing, medians."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PARAGRAPH = (
    "We study the method on several data sets and report the mean over five seeds; "
    "the gains hold across resolutions and are largest where depth is noisy. "
) * 6


def make_paper(
    root: Path, figures: int, files: int | None = None, resolution: str | None = None, notes: int = 12
) -> Path:
    """A paper with ``figures`` figures over ``files`` content files (LaTeX and Markdown,
    each shared by several figures): about ``notes`` kB per file (10 kB by default)."""
    files = files or max(4, min(300, figures // 2))
    sections = root / "sections"
    sections.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        body = "\n\n".join(f"% note {j}\n{PARAGRAPH}" for j in range(notes))
        if index % 4 == 3:
            text = (
                f"# Part {index}\n\n{body.replace('% note', '<!-- note -->')}\n\n## Detail\n\n{PARAGRAPH}\n"
            )
            (sections / f"part-{index:04d}.md").write_text(text, encoding="utf-8")
        else:
            text = f"\\section{{Part {index}}}\n{body}\n\\subsection{{Detail}}\n{PARAGRAPH}\n"
            (sections / f"part-{index:04d}.tex").write_text(text, encoding="utf-8")
    names = sorted(p.name for p in sections.iterdir())
    figure_specs = {}
    for i in range(figures):
        content = [f"sections/{names[i % files]}", f"sections/{names[(i * 7 + 3) % files]}"]
        spec: dict[str, object] = {
            "prompt": f"Figure {i} of {{{{ method }}}}: a diagram of stage {i}.",
            "content": content,
            "resolution": resolution or ["1K", "2K", "4K"][i % 3],
        }
        figure_specs[f"fig-{i:04d}"] = spec
    manifest = {"version": 1, "vars": {"method": "FlowNet"}, "figures": figure_specs}
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return root


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: bytecode caches on (some sandboxes turn them
    off with PYTHONDONTWRITEBYTECODE, which would time compiling, not figbuild)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def figbuild(*args: str) -> list[str]:
    """``figbuild ARGS`` through the installed console script, as a user runs it."""
    return [script(), *args]


def script() -> str:
    """The console script beside this interpreter (else on PATH)."""
    beside = Path(sys.executable).with_name("figbuild")
    found = str(beside) if beside.exists() else shutil.which("figbuild")
    if not found:
        raise SystemExit("the figbuild console script is not installed: pip install -e .")
    return found


#: Files written less than this long before a run are never trusted by the fast path.
RACY_S = 2.2


def settle() -> None:
    """Wait out the fast path's racy window after writing a paper (figbuild.fastpath.RACY_NS)."""
    time.sleep(RACY_S)


def peak_rss_mb(
    command: list[str], runs: int, cwd: Path | None = None, env: dict[str, str] | None = None
) -> float | None:
    """Median peak RSS (MB) of ``command``, from GNU time; None without it.

    Not this process's wait4(): on Linux a child's ru_maxrss starts from the forking
    parent's high-water mark (it survives fork and exec), which would hide a small
    process behind the benchmark's own memory. GNU time is a small parent.
    """
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        return None
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rss"
        for _ in range(max(runs, 1)):
            subprocess.run(
                [gnu_time, "-f", "%M", "-o", str(report), *command],
                cwd=cwd,
                env=env or user_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            samples.append(int(report.read_text().split()[-1]) / 1024)  # kB
    return statistics.median(samples)


def interleaved_medians(
    commands: dict[str, list[str]], runs: int, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Median wall time of each command, run in turn ``runs`` times after one warm-up each:
    on a shared machine, load that comes and goes then hits the baseline and the command alike."""
    env = env or user_env()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for rounds in range(runs + 1):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if rounds:  # the first round warms up (and writes the fast path's snapshots)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(samples) for name, samples in times.items()}


def median_seconds(
    command: list[str],
    runs: int,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> float:
    """Median wall time of ``command`` over ``runs`` runs, after one warm-up run."""
    env = env or user_env()
    subprocess.run(
        command, cwd=cwd, env=env, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            command, cwd=cwd, env=env, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def content_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "sections").iterdir())
