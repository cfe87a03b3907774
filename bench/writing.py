"""Benchmarks of figbuild while a paper is being written (issue 25): its share of a
LaTeX rebuild after an edit, a status after an edit, the first status in a fresh
clone, and a no-op ``make pdf``. Each against a baseline measured in the same run:

- one-pass ``latexmk -pdf`` after a one-word prose edit, with the shipped
  ``.latexmkrc`` (its hook runs ``figbuild sync --best-effort --deps`` before each
  pdflatex run) against ``latexmk -norc -pdf`` (no hooks), on the example paper and
  on a generated 60-file, 1 MB paper; as a co-author without a key;
- ``figbuild status`` after a one-file edit of the 1 MB paper against ``python -c pass``;
- the first ``figbuild status`` in a fresh clone (a copy at a new path, no cache)
  against ``python -c pass``;
- a no-op ``make pdf`` (as shipped, no key) against a no-op ``latexmk -pdf``.

    python bench/writing.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import content_bytes, figbuild, make_paper, script, settle, user_env

EXAMPLE = Path(__file__).resolve().parents[1] / "example-paper"
PYTHON = [sys.executable, "-c", "pass"]
LATEXMK = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error"]
NO_HOOKS = ["latexmk", "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error"]
#: The word the prose edit toggles, in the example paper's acknowledgments.
EXAMPLE_EDIT = ("instructive ways", "instructive manners")
GENERATED_EDIT = ("a quiet result", "a quieter result")


def have_latex() -> bool:
    return bool(shutil.which("latexmk") and shutil.which("pdflatex"))


def no_key_env(**extra: str) -> dict[str, str]:
    """A co-author's shell: figbuild installed, no key, nothing pointing elsewhere."""
    env = {k: v for k, v in user_env().items() if not k.startswith(("PAPERBANANA_", "FIGBUILD_"))}
    return {**env, "FIGBUILD": script(), **extra}


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}")
    return elapsed


def _toggle(path: Path, words: tuple[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    old, new = words if words[0] in text else words[::-1]
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def generated_latex_paper(root: Path) -> Path:
    """60 content files (45 LaTeX, 15 Markdown; ~1 MB), 60 figures, and a main.tex
    that inputs every LaTeX one, with placeholders for the figures."""
    make_paper(root, 60, files=60, resolution="1K", notes=20)
    inputs = "\n".join(f"\\input{{sections/{p.stem}}}" for p in sorted((root / "sections").glob("*.tex")))
    (root / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n"
        f"We report {GENERATED_EDIT[0]} on every data set.\n\n{inputs}\n\\end{{document}}\n",
        encoding="utf-8",
    )
    shutil.copy(EXAMPLE / ".latexmkrc", root / ".latexmkrc")
    subprocess.run(figbuild("-q", "sync", "--placeholder"), cwd=root, env=user_env(), check=True)
    return root


def latexmk_rebuild(runs: int, generated: bool = True) -> list[dict[str, Any]]:
    """One-pass rebuild after a prose edit, shipped rc vs no hooks, on the example paper
    and (with ``generated``) the generated 1 MB one."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        papers: list[tuple[str, Callable[[Path], Path], str, tuple[str, str]]] = [
            ("example paper", lambda p: Path(shutil.copytree(EXAMPLE, p)), "paper.tex", EXAMPLE_EDIT),
            ("60 files, 1 MB", generated_latex_paper, "main.tex", GENERATED_EDIT),
        ]
        for name, make, main, words in papers if generated else papers[:1]:
            hooked = make(Path(tmp) / f"{len(results)}-hooked")
            plain = Path(shutil.copytree(hooked, Path(tmp) / f"{len(results)}-plain"))
            env = no_key_env()
            _timed([*LATEXMK, main], hooked, env)
            _timed([*NO_HOOKS, main], plain, env)
            settle()
            samples: dict[str, list[float]] = {"hooks_s": [], "no_hooks_s": []}
            for rounds in range(runs + 1):
                for key, root, command in (("hooks_s", hooked, LATEXMK), ("no_hooks_s", plain, NO_HOOKS)):
                    _toggle(root / main, words)
                    elapsed = _timed([*command, main], root, env)
                    if rounds:  # the first edit warms up
                        samples[key].append(elapsed)
            medians = {key: statistics.median(values) for key, values in samples.items()}
            results.append(
                {
                    "paper": name,
                    "content_bytes": content_bytes(hooked) if name != "example paper" else None,
                    **medians,
                    "ratio": medians["hooks_s"] / medians["no_hooks_s"],
                }
            )
    return results


def status_after_edit(runs: int) -> dict[str, Any]:
    """``figbuild status`` right after a one-file edit (the fast path cannot answer)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_paper(Path(tmp) / "paper", 60, files=60, resolution="1K", notes=20)
        env = user_env()
        subprocess.run(figbuild("-q", "sync", "--placeholder"), cwd=root, env=env, check=True)
        settle()
        _timed(figbuild("status"), root, env)
        target = root / "sections" / "part-0005.tex"
        samples: dict[str, list[float]] = {"python_s": [], "status_s": []}
        for rounds in range(runs + 1):
            target.write_text(target.read_text(encoding="utf-8") + f"\nOne more word {rounds}.\n")
            elapsed = _timed(figbuild("status"), root, env)
            python = _timed(PYTHON, root, env)
            if rounds:
                samples["status_s"].append(elapsed)
                samples["python_s"].append(python)
        medians = {key: statistics.median(values) for key, values in samples.items()}
        return {
            "files": 60,
            "content_bytes": content_bytes(root),
            **medians,
            "ratio": medians["status_s"] / medians["python_s"],
        }


def fresh_clone_status(root: Path, runs: int, figures: int) -> dict[str, Any]:
    """The first ``status`` in a copy of ``root`` at a new path with an empty cache."""
    samples: dict[str, list[float]] = {"python_s": [], "status_s": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            clone = Path(
                shutil.copytree(root, Path(tmp) / f"clone-{run}", ignore=shutil.ignore_patterns(".figbuild"))
            )
            env = user_env(XDG_CACHE_HOME=str(Path(tmp) / f"cache-{run}"))
            samples["status_s"].append(_timed(figbuild("status"), clone, env))
            samples["python_s"].append(_timed(PYTHON, clone, env))
            shutil.rmtree(clone)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return {"figures": figures, **medians, "ratio": medians["status_s"] / medians["python_s"]}


def make_pdf_noop(runs: int) -> dict[str, Any] | None:
    """A no-op ``make pdf`` of the example paper as shipped (no key) vs a no-op latexmk."""
    if not (have_latex() and shutil.which("make")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(shutil.copytree(EXAMPLE, Path(tmp) / "paper"))
        env = no_key_env()
        _timed(["make", "pdf"], root, env)
        settle()
        samples: dict[str, list[float]] = {"make_s": [], "latexmk_s": []}
        for rounds in range(runs + 1):
            make = _timed(["make", "pdf"], root, env)
            latexmk = _timed([*LATEXMK, "paper.tex"], root, env)
            if rounds:
                samples["make_s"].append(make)
                samples["latexmk_s"].append(latexmk)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return {**medians, "ratio": medians["make_s"] / medians["latexmk_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, Any] = {"status_after_edit": status_after_edit(args.runs)}
    if have_latex():
        results["latexmk_rebuild"] = latexmk_rebuild(args.runs)
        results["make_pdf"] = make_pdf_noop(args.runs)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
