"""The example paper built end to end, as a user builds it: make, latexmk, pandoc."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "example-paper"
SCRIPT = shutil.which("figbuild")
FIGURES = 4  # overview, training-loop, appendix-details, teaser

pytestmark = pytest.mark.slow


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (apt-get install latexmk texlive-latex-recommended "
            "pandoc poppler-utils lmodern; .ci/run does)"
        )


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    root = tmp_path / "example-paper"
    # The committed figures are placeholders: start from them, as a fresh clone does.
    ignore = shutil.ignore_patterns(".figbuild", "paper.pdf", "paper-md.pdf", "paper.html", "*.aux", "*.log")
    shutil.copytree(EXAMPLE, root, ignore=ignore)
    return root


def make(root: Path, target: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the figbuild console script is not installed"
    return subprocess.run(
        ["make", "-C", str(root), target, f"FIGBUILD={SCRIPT}", "FIGBUILD_FLAGS=--emulator"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def embedded_images(pdf: Path) -> int:
    listing = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in listing.splitlines()[2:] if re.match(r"\s*\d+\s+\d+\s+image\b", line))


def test_make_pdf_syncs_then_builds_with_every_figure(paper: Path) -> None:
    _need("make", "latexmk", "pdflatex", "pdfimages")
    result = make(paper, "pdf")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "generated 4" in result.stderr, "the figures target ran a real sync first"
    assert embedded_images(paper / "paper.pdf") == FIGURES
    # Emulator images stand in for real ones: CI's strict check still says so.
    status = subprocess.run(
        [SCRIPT or "", "-C", str(paper), "status", "--check"], capture_output=True, text=True
    )
    assert status.returncode == 1, status.stdout
    assert status.stdout.count("stale     ") == 4
    assert status.stdout.count("(emulator image)") == 4


def test_pandoc_builds_the_markdown_twin_with_every_figure(paper: Path) -> None:
    _need("make", "pandoc", "pdflatex", "pdfimages")
    result = make(paper, "md-pdf")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert embedded_images(paper / "paper-md.pdf") == FIGURES


def test_make_clean_keeps_figures_and_lock(paper: Path) -> None:
    _need("make", "latexmk")
    before = {p.name: p.read_bytes() for p in (paper / "figures").iterdir()}
    lock = (paper / "figures.lock").read_bytes()
    assert make(paper, "clean").returncode == 0
    assert {p.name: p.read_bytes() for p in (paper / "figures").iterdir()} == before
    assert (paper / "figures.lock").read_bytes() == lock
