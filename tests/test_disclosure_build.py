"""The example paper with `disclosure: {output: ai-disclosure.tex}`, built end to end by
latexmk (whose hook syncs against the emulator served as the real API)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from figbuild import provenance
from figbuild.emulator import Emulator
from figbuild.lockfile import read

EXAMPLE = Path(__file__).resolve().parent.parent / "example-paper"
pytestmark = pytest.mark.slow


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (apt-get install latexmk texlive-latex-recommended poppler-utils)"
        )


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    root = tmp_path / "example-paper"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".figbuild", "*.pdf", "*.aux", "*.log"))
    shutil.copy(EXAMPLE / "figures/appendix-details.pdf", root / "figures/appendix-details.pdf")
    manifest = yaml.safe_load((root / "figures.yaml").read_text())
    manifest["disclosure"] = {"output": "ai-disclosure.tex"}
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    tex = (root / "paper.tex").read_text()
    (root / "paper.tex").write_text(
        tex.replace("\\section*{Acknowledgments}\n", "\\section*{Acknowledgments}\n\\input{ai-disclosure}\n")
    )
    return root


def _env(emulator: Emulator) -> dict[str, str]:
    return {
        **os.environ,
        "FIGBUILD": f"{sys.executable} -m figbuild",
        "FIGBUILD_FLAGS": "",
        "PAPERBANANA_BASE_URL": emulator.base_url,
        "PAPERBANANA_API_KEY": "sk-disclosure-build",
    }


def _run(args: list[str], root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _pdf_text(root: Path) -> str:
    text = _run(["pdftotext", "paper.pdf", "-"], root, dict(os.environ)).stdout
    return re.sub(r"\s+", " ", text)


def test_the_statement_in_the_pdf_follows_the_figures(paper: Path, emulator: Emulator) -> None:
    _need("latexmk", "pdflatex", "pdftotext", "pdfimages", "exiftool")
    env = _env(emulator)
    build = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"]
    done = _run(build, paper, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lock = read(paper / "figures.lock")
    tasks = {fid: record.generated.task_id for fid, record in lock.figures.items() if record.generated}
    assert len(tasks) == 4
    assert all(tasks.values()), "a real sync: every figure has its task"
    text = _pdf_text(paper)
    assert "4 figures in this paper were generated with generative AI" in text
    for task in tasks.values():
        assert task in text  # type: ignore[operator]
    # The stamped PDF figure is still an image pdflatex includes.
    listing = _run(["pdfimages", "-list", "paper.pdf"], paper, env).stdout
    assert sum(1 for line in listing.splitlines()[2:] if re.match(r"\s*\d+\s+\d+\s+image\b", line)) == 4
    stamped = provenance.read_file(paper / "figures/appendix-details.pdf")
    assert stamped is not None
    assert stamped.task_id == tasks["appendix-details"]

    # A figure regenerated: the next PDF says so.
    regenerated = _run([sys.executable, "-m", "figbuild", "sync", "--force", "overview"], paper, env)
    assert regenerated.returncode == 0, regenerated.stderr
    new_task = read(paper / "figures.lock").record("overview").generated.task_id  # type: ignore[union-attr]
    assert new_task != tasks["overview"]
    done = _run(build, paper, env)
    assert done.returncode == 0, done.stdout[-3000:]
    text = _pdf_text(paper)
    assert new_task in text  # type: ignore[operator]
    assert tasks["overview"] not in text  # type: ignore[operator]

    # A hand edit of the statement: the strict check fails.
    statement = paper / "ai-disclosure.tex"
    statement.write_text(statement.read_text().replace("reviewed every figure", "looked at the figures"))
    check = _run([sys.executable, "-m", "figbuild", "status", "--check"], paper, env)
    assert check.returncode == 1
    assert "ai-disclosure.tex" in check.stderr
