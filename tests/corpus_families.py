"""The five paper families of tests/corpus/families/ and the figures drawn from each.

Written for the metamorphic suite (tests/test_content_metamorphic.py) in the shapes
of real papers: a journal LaTeX paper (preamble macros, a generated \\input, a missing
one that `make` would generate, one file per section, a second root), a KOMA thesis,
a book with \\include'd chapters under \\part and heading macros, a Quarto book
(chapters in folders, includes, figure chunks, one sentence per line, {#sec-} ids)
and a JOSS paper.md.
"""

from __future__ import annotations

from pathlib import Path

FAMILIES_DIR = Path(__file__).parent / "corpus" / "families"

#: figure id -> (file, section, label), paths relative to the families directory.
FIGURES: dict[str, tuple[str, str | None, str | None]] = {
    "j-abstract": ("journal/main.tex", None, None),
    "j-intro": ("journal/main.tex", "Introduction", None),
    "j-method": ("journal/main.tex", "GraphFlow: Method", None),
    "j-mp": ("journal/main.tex", "Method/Message Passing", None),
    "j-flow": ("journal/main.tex", None, "sec:flow"),
    "j-results": ("journal/main.tex", "Results", None),
    "j-proofs": ("journal/main.tex", "Extended Proofs", None),
    "j-supp": ("journal/supplement.tex", "Supplementary Material", None),
    "t-abstract": ("thesis/thesis.tex", "Abstract", None),
    "t-background": ("thesis/thesis.tex", None, "chap:background"),
    "t-notation": ("thesis/thesis.tex", "Notation", None),
    "t-impl": ("thesis/thesis.tex", "Implementation", None),
    "t-summary": ("thesis/thesis.tex", "Summary", None),
    "b-monge": ("book/book.tex", "Monge and Kantorovich", None),
    "b-notes1": ("book/book.tex", "Couplings/Notes", None),
    "b-exercises2": ("book/book.tex", "Duality/Exercises", None),
    "b-applications": ("book/book.tex", "Applications", None),
    "b-preface": ("book/book.tex", "Preface", None),
    "q-intro": ("quarto-book/chapters/intro/intro.qmd", None, "sec-intro"),
    "q-why": ("quarto-book/chapters/intro/intro.qmd", "Why reproducibility", None),
    "q-method": ("quarto-book/chapters/method/method.qmd", None, None),
    "q-containers": ("quarto-book/chapters/method/method.qmd", None, "sec-containers"),
    "q-data": ("quarto-book/chapters/method/method.qmd", "Method/Data", None),
    "q-results": ("quarto-book/chapters/results/results.qmd", "Results", None),
    "q-preface": ("quarto-book/index.qmd", "Preface", None),
    "joss-summary": ("joss/paper.md", "Summary", None),
    "joss-need": ("joss/paper.md", "Statement of need", None),
    "joss-usage": ("joss/paper.md", "Usage", None),
}


def corpus() -> dict[str, str]:
    """Every file of the families, by path relative to the families directory."""
    return {
        path.relative_to(FAMILIES_DIR).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(FAMILIES_DIR.rglob("*"))
        if path.is_file()
    }


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
