"""The content rules' answers, pinned: what is sent, its digest, spans, titles and errors.

Issue 19 made rules 3 faster without changing them. This proves it, and keeps proving it:
tests/golden/content_rules3.json was written by the rules 3 code before that work
(commit 30fbafb), and the code now must answer the same for

- every figure of the five paper families (tests/corpus/families) and of the example
  paper: its text sent, canonical digest, sent digest, spans, sources and warnings;
- every content file of those trees, with and without ``keep_figures``: the document's
  lines, headings (titles, short and raw titles, labels), labels, files and missing
  includes, and the part of every heading by title, by raw title and by label, and of a
  title that matches none (errors with their hints);
- the same for seeded generated LaTeX and Markdown papers (tests/content_generated.py).

An answer that changes is a change of the rules: it needs a new RULES_VERSION (SPEC, "The
manifest") and a new golden file, written by ``python -m tests.test_content_golden --write``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import figbuild.content
from figbuild.content import RULES_VERSION, ContentReader
from figbuild.manifest import ContentSource

from .content_generated import paper
from .content_probe import _part, fingerprint, probe_tree
from .corpus_families import FAMILIES_DIR, FIGURES

GOLDEN = Path(__file__).parent / "golden" / f"content_rules{RULES_VERSION}.json"
EXAMPLE_DIR = Path(figbuild.content.__file__).parent.parent / "example"
#: How many generated papers (half LaTeX, half Markdown).
PAPERS = 400


def example_sources() -> dict[str, ContentSource]:
    """The content sources of the example paper's figures, by figure id and position."""
    manifest = yaml.safe_load((EXAMPLE_DIR / "figures.yaml").read_text(encoding="utf-8"))
    out = {}
    for fid, figure in manifest["figures"].items():
        entries = figure.get("content") or []
        for index, entry in enumerate([entries] if isinstance(entries, str | dict) else entries):
            if isinstance(entry, str):
                entry = {"file": entry}
            out[f"{fid}/{index}"] = ContentSource(
                entry["file"],
                entry.get("section"),
                anchor=entry.get("label"),
                keep_figures=bool(entry.get("keep_figures")),
            )
    return out


def figure_answers(package: ModuleType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    families = package.ContentReader(FAMILIES_DIR)
    for fid, (file, section, label) in FIGURES.items():
        out[f"families/{fid}"] = [
            _part(part) for part in families.parts(ContentSource(file, section, anchor=label))
        ]
    example = package.ContentReader(EXAMPLE_DIR)
    for fid, source in example_sources().items():
        out[f"example/{fid}"] = [_part(part) for part in example.parts(source)]
    return out


def tree_answers(package: ModuleType) -> dict[str, str]:
    out = {}
    for name, root in (("families", FAMILIES_DIR), ("example", EXAMPLE_DIR)):
        for relative, answer in probe_tree(package, root).items():
            out[f"{name}/{relative}"] = fingerprint(answer)
    return out


def generated_answer(package: ModuleType, seed: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for relative, text in paper(seed).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
        return fingerprint(probe_tree(package, root))


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert data["rules"] == RULES_VERSION
    return data


def test_every_figure_of_the_families_and_the_example_is_sent_and_hashed_as_pinned(
    golden: dict[str, Any],
) -> None:
    answers = figure_answers(figbuild.content)
    assert answers.keys() == golden["figures"].keys()
    for name, parts in answers.items():
        assert parts == golden["figures"][name], name
    assert all(part["text"] for parts in answers.values() for part in parts)


def test_every_file_and_heading_of_the_families_and_the_example_answers_as_pinned(
    golden: dict[str, Any],
) -> None:
    assert tree_answers(figbuild.content) == golden["trees"]


def test_generated_papers_answer_as_pinned(golden: dict[str, Any]) -> None:
    assert len(golden["generated"]) == PAPERS
    changed = [
        seed
        for seed in range(PAPERS)
        if generated_answer(figbuild.content, seed) != golden["generated"][seed]
    ]
    assert not changed, (
        f"generated papers whose answers changed (tests.content_generated.paper(seed)): {changed}"
    )


def test_the_generated_papers_reach_what_the_rules_look_at() -> None:
    """The seeded papers are not trivial: they have sections, macros, code and errors."""
    seen = {"headings": 0, "raw titles": 0, "code lines": 0, "section parts": 0, "errors": 0, "includes": 0}
    for seed in range(0, PAPERS, 5):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for relative, text in paper(seed).items():
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_text(text, encoding="utf-8")
            for answer in probe_tree(figbuild.content, root).values():
                entry = answer["keep=False"]
                if "error" in entry:
                    seen["errors"] += 1
                    continue
                seen["headings"] += len(entry["headings"])
                seen["raw titles"] += sum(heading[5] is not None for heading in entry["headings"])
                seen["code lines"] += sum(line[3] for line in entry["lines"])
                seen["section parts"] += sum(isinstance(part, list) for part in entry["sections"].values())
                seen["errors"] += sum(isinstance(part, dict) for part in entry["sections"].values())
                seen["includes"] += len(entry["files"]) > 1
    assert all(count >= 5 for count in seen.values()), seen


def write_golden(package: ModuleType) -> None:
    data = {
        "rules": RULES_VERSION,
        "figures": figure_answers(package),
        "trees": tree_answers(package),
        "generated": [generated_answer(package, seed) for seed in range(PAPERS)],
    }
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_content_golden --write")
    assert ContentReader is figbuild.content.ContentReader
    write_golden(figbuild.content)
