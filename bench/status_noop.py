"""Benchmark: `figbuild status` on a paper with many figures, against `python -c pass`.

Builds a paper in a temp dir (N figures over shared LaTeX content), fills it with
placeholders once, then times `figbuild status` and a no-op `figbuild sync
--placeholder` as subprocesses. Prints the medians and their ratio to the
interpreter's own start-up. A benchmark, not a test: it asserts nothing.

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

import yaml


def make_paper(root: Path, figures: int, files: int) -> None:
    sections = root / "sections"
    sections.mkdir(parents=True)
    paragraph = "We study the method on several data sets and report the mean over five seeds. " * 8
    for index in range(files):
        body = "\n\n".join(f"% note {j}\n{paragraph}" for j in range(20))
        text = f"\\section{{Part {index}}}\n{body}\n\\subsection{{Detail}}\n{paragraph}\n"
        (sections / f"part-{index:04d}.tex").write_text(text, encoding="utf-8")
    manifest = {
        "version": 1,
        "vars": {"method": "FlowNet"},
        "figures": {
            f"fig-{i:04d}": {
                "prompt": f"Figure {i} of {{{{ method }}}}: a diagram of stage {i}.",
                "content": [f"sections/part-{i % files:04d}.tex", f"sections/part-{(i * 7) % files:04d}.tex"],
                "resolution": ["1K", "2K", "4K"][i % 3],
            }
            for i in range(figures)
        },
    }
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")


def median_seconds(command: list[str], runs: int, cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(figures: int, runs: int, files: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "paper"
        make_paper(root, figures, files)
        figbuild = [sys.executable, "-m", "figbuild", "-q"]
        subprocess.run([*figbuild, "sync", "--placeholder"], cwd=root, check=True)
        baseline = median_seconds([sys.executable, "-c", "pass"], runs, root)
        status = median_seconds([*figbuild, "status"], runs, root)
        sync = median_seconds([*figbuild, "sync", "--placeholder"], runs, root)
    return {
        "figures": figures,
        "python_s": baseline,
        "status_s": status,
        "sync_noop_s": sync,
        "status_ratio": status / baseline,
        "sync_noop_ratio": sync / baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", type=int, default=200)
    parser.add_argument("--files", type=int, default=50, help="content files shared by the figures")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    result = measure(args.figures, args.runs, args.files)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
