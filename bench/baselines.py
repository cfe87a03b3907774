"""Baselines from other tools, measured in the same run as figbuild's numbers.

- a no-op ``latexmk -pdf`` on the example paper (when latexmk is installed), against
  a no-op ``figbuild sync --best-effort --deps`` there (what its ``.latexmkrc`` runs
  before each LaTeX pass): what figbuild adds to a no-op ``make pdf``;
- ``dvc status`` on the same generated paper (``bench/run.py --compare dvc``, only when
  dvc is installed: nothing is installed here).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import figbuild, interleaved_medians, script, settle, user_env

EXAMPLE = Path(__file__).resolve().parents[1] / "example-paper"
LATEXMK = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"]


def latexmk_noop(runs: int) -> dict[str, Any] | None:
    """No-op ``latexmk`` vs no-op ``figbuild sync`` on the example paper; None without latexmk."""
    if not (shutil.which("latexmk") and shutil.which("pdflatex")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(shutil.copytree(EXAMPLE, Path(tmp) / "paper"))
        # The shipped .latexmkrc runs `figbuild sync` before pdflatex; placeholders need no key.
        env = user_env(FIGBUILD=script(), FIGBUILD_FLAGS="--placeholder")
        built = subprocess.run(LATEXMK, cwd=root, env=env, capture_output=True, check=False)
        if built.returncode != 0:
            return {"error": built.stdout.decode(errors="replace")[-500:]}
        settle()
        times = interleaved_medians(
            {
                "latexmk_s": LATEXMK,
                # What the .latexmkrc runs before each LaTeX pass: one process.
                "sync_noop_s": figbuild("sync", "--best-effort", "--deps", "--placeholder"),
                "python_s": [sys.executable, "-c", "pass"],
            },
            runs * 3,
            cwd=root,
            env=env,
        )
    return {**times, "ratio": times["sync_noop_s"] / times["latexmk_s"]}


def dvc_status(root: Path, runs: int) -> float | None:
    """Median ``dvc status`` on ``root`` with its figures tracked by dvc; None without dvc."""
    if not shutil.which("dvc"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(root, Path(tmp) / "paper"))
        subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=copy, check=True)
        subprocess.run(["dvc", "add", "-q", "figures"], cwd=copy, check=True)
        subprocess.run(["dvc", "status", "-q"], cwd=copy, check=False)
        times = []
        for _ in range(runs):
            times.append(_timed(["dvc", "status"], copy))
    return statistics.median(times)


def _timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start
