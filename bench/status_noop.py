"""Benchmark: `figbuild status` and a no-op `figbuild sync` on a paper with many figures,
against the interpreter's own start-up (`python -c pass`).

Builds a paper in a temp dir, fills it with placeholders once, then times both
commands as subprocesses (median of --runs). A benchmark, not a test.

    python bench/status_noop.py [--figures 200] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import content_bytes, figbuild, make_paper, median_seconds, user_env


def measure(figures: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_paper(Path(tmp) / "paper", figures, resolution="1K")
        # Placeholders make every figure have an output.
        subprocess.run(figbuild("sync", "--placeholder"), cwd=root, env=user_env(), check=True)
        baseline = median_seconds([sys.executable, "-c", "pass"], runs, cwd=root)
        status = median_seconds(figbuild("status"), runs, cwd=root)
        sync = median_seconds(figbuild("sync", "--placeholder"), runs, cwd=root)
        size = content_bytes(root)
    return {
        "figures": figures,
        "content_bytes": size,
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
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(measure(args.figures, args.runs), indent=2))


if __name__ == "__main__":
    main()
