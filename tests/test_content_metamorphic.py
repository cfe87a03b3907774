"""The metamorphic property of the content rules, over papers in five real shapes.

SPEC, "Presentation never counts": hypothesis draws presentation-only edits (re-wrap,
blank lines, labels and anchors, floats and images anywhere, right after a heading
too, caption edits in every form, comments, \\todo notes, preamble packages, chunk
options) and every figure's digest must stay the same; a word edited inside a section
must change exactly the figures whose content takes that line. The corpus is
tests/corpus/families/ (see tests/corpus_families.py). A few cases run end to end
against the emulator, which must receive no request at all.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild.content import ContentReader
from figbuild.emulator import Emulator
from figbuild.manifest import ContentSource

from .corpus_families import FAMILIES_DIR, FIGURES, corpus, write
from .test_content_corpus import run_sync

FAMILIES = ("journal", "thesis", "book", "quarto-book", "joss")
EXAMPLES = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WORD_EXAMPLES = settings(EXAMPLES, max_examples=30)

_LATEX_HEADING = re.compile(
    r"^\\(?:part|chapter|section|subsection|addchap|addsec|sectionNotes|Exercises|label)(?![A-Za-z])"
)
_LATEX_TITLED = re.compile(r"^\\(?:part|chapter|section|subsection|addchap|addsec)\*?\{[^{}]*\}$")
_MD_SPECIAL = re.compile(r"^\s*(?:[#!<|>*+:=`]|-|\d+[.)]|\{\{)")
_MD_UNDERLINE = re.compile(r"^(?:=+|-+)\s*$")
_WORD = re.compile(r"(?<![\\@A-Za-z{])[A-Za-z]{3,}(?![A-Za-z}])")

FLOAT = [
    "\\begin{figure}[t]",
    "  \\centering",
    "  \\includegraphics[width=0.8\\linewidth]{figures/new.pdf}",
    "  \\caption{A figure placed while writing.}",
    "  \\label{fig:new}",
    "\\end{figure}",
]
IMAGE = ["", "![A caption that", "spans two lines.](figures/new.png){#fig-new width=50%}", ""]


def family_of(name: str) -> str:
    return name.split("/", 1)[0]


def family_files(family: str) -> dict[str, str]:
    return {name: text for name, text in corpus().items() if family_of(name) == family}


def family_figures(family: str) -> dict[str, tuple[str, str | None, str | None]]:
    return {fid: spec for fid, spec in FIGURES.items() if family_of(spec[0]) == family}


def digests(files: dict[str, str], family: str) -> dict[str, str]:
    return {fid: digest for fid, (digest, _) in read_all(files, family).items()}


def read_all(files: dict[str, str], family: str) -> dict[str, tuple[str, str]]:
    """Each figure's digest and the text it sends."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, files)
        reader = ContentReader(root)
        out = {}
        for fid, (file, section, label) in family_figures(family).items():
            (part,) = reader.parts(ContentSource(file, section, anchor=label))
            out[fid] = (part.digest, part.text or "")
        return out


@cache
def baseline(family: str) -> dict[str, str]:
    return digests(family_files(family), family)


@cache
def baseline_texts(family: str) -> dict[str, str]:
    return {fid: text for fid, (_, text) in read_all(family_files(family), family).items()}


@cache
def spans(family: str) -> dict[str, frozenset[tuple[str, int]]]:
    """The (file, line) pairs each figure's content takes, in the unedited corpus."""
    reader = ContentReader(FAMILIES_DIR)
    out = {}
    for fid, (file, section, label) in family_figures(family).items():
        (part,) = reader.parts(ContentSource(file, section, anchor=label))
        out[fid] = frozenset(
            (span.file, number) for span in part.spans for number in range(span.first, span.last + 1)
        )
    return out


# -- where an edit may go --------------------------------------------------------------


def latex_lines(text: str) -> tuple[list[int], list[int]]:
    """(prose lines, lines after which a block may be inserted), 0-based."""
    lines = text.split("\n")
    prose, after = [], []
    body = "\\documentclass" not in text
    depth = 0  # environments and conditionals open
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("\\begin{document}"):
            body = True
            continue
        opened = len(re.findall(r"\\begin\{(?!document)", line)) + len(
            re.findall(r"(?<!\\newif)\\if[a-z]+\b", line)
        )
        closed = len(re.findall(r"\\end\{(?!document)", line)) + len(re.findall(r"\\fi\b", line))
        inside = depth > 0 or opened > 0
        depth += opened - closed
        if not body or inside or stripped.startswith("\\end{"):
            continue
        if stripped and not stripped.startswith(("\\", "%")) and "%" not in line and "\\todo" not in line:
            prose.append(index)
            after.append(index)
        elif _LATEX_HEADING.match(stripped):
            after.append(index)
    return prose, after


def markdown_lines(text: str) -> tuple[list[int], list[int]]:
    lines = text.split("\n")
    prose, after = [], []
    fence = False
    front = lines[0] == "---"
    image = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if front:
            front = not (index > 0 and stripped == "---")
            continue
        if stripped.startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        if image:
            image = "](" not in line
            continue
        if stripped.startswith("![") and "](" not in line:
            image = True
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if stripped.startswith("#"):
            after.append(index)
        elif stripped and not _MD_SPECIAL.match(line) and not _MD_UNDERLINE.match(following):
            prose.append(index)
            after.append(index)
    return prose, after


def places(name: str, text: str) -> tuple[list[int], list[int]]:
    return latex_lines(text) if name.endswith(".tex") else markdown_lines(text)


# -- presentation-only edits -----------------------------------------------------------

Edit = Callable[[st.DrawFn, str, list[str]], list[str] | None]


def _split(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    prose, _ = places(name, "\n".join(lines))
    candidates = [i for i in prose if re.search(r" (?=[A-Za-z])", lines[i].strip())]
    if not candidates:
        return None
    index = draw(st.sampled_from(candidates))
    line = lines[index]
    spaces = [m.start() for m in re.finditer(r" (?=[A-Za-z])", line) if line[: m.start()].strip()]
    cut = draw(st.sampled_from(spaces))
    return [*lines[:index], line[:cut], line[cut + 1 :], *lines[index + 1 :]]


def _join(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    prose, _ = places(name, "\n".join(lines))
    pairs = [i for i in prose if i + 1 in prose]
    if not pairs:
        return None
    index = draw(st.sampled_from(pairs))
    return [*lines[:index], lines[index] + " " + lines[index + 1].strip(), *lines[index + 2 :]]


def _insert(draw: st.DrawFn, name: str, lines: list[str], block: list[str]) -> list[str] | None:
    _, after = places(name, "\n".join(lines))
    if not after:
        return None
    index = draw(st.sampled_from(after))
    return [*lines[: index + 1], *block, *lines[index + 1 :]]


def _blank(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    return _insert(draw, name, lines, [""] * draw(st.integers(1, 2)))


def _remove_blank(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    _, after = places(name, "\n".join(lines))
    blanks = [
        i + 1 for i in after if i + 2 < len(lines) and not lines[i + 1].strip() and lines[i + 2].strip()
    ]
    if name.endswith((".md", ".qmd")):
        # A blank line before a block that needs one (a fence, a heading, a list) is syntax.
        blanks = [
            i for i in blanks if not _MD_SPECIAL.match(lines[i + 1]) and not lines[i - 1].startswith("#")
        ]
    if not blanks:
        return None
    index = draw(st.sampled_from(blanks))
    return [*lines[:index], *lines[index + 1 :]]


def _label(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    if name.endswith(".tex"):
        heads = [i for i, line in enumerate(lines) if _LATEX_TITLED.match(line.strip())]
        suffix = f"\\label{{sec:drawn-{draw(st.integers(0, 99))}}}"
    else:
        heads = [i for i, line in enumerate(lines) if line.startswith("#") and "{" not in line]
        suffix = f" {{#sec-drawn-{draw(st.integers(0, 99))} .unnumbered}}"
    heads = [i for i in heads if i in places(name, "\n".join(lines))[1]]
    if not heads:
        return None
    index = draw(st.sampled_from(heads))
    return [*lines[:index], lines[index] + suffix, *lines[index + 1 :]]


def _figure(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    return _insert(draw, name, lines, FLOAT if name.endswith(".tex") else IMAGE)


def _caption(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    words = draw(
        st.lists(st.sampled_from(["new", "loss", "curve", "of", "the", "model"]), min_size=1, max_size=5)
    )
    text = " ".join(words)
    edits = []
    for index, line in enumerate(lines):
        if "\\caption{" in line:
            edits.append(
                (index, re.sub(r"\\caption\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", f"\\\\caption{{{text}}}", line))
            )
        elif line.startswith("#| fig-cap:"):
            edits.append((index, f'#| fig-cap: "{text}"'))
        elif line.startswith("![") and "](" in line:
            edits.append((index, re.sub(r"^!\[[^\]]*\]", f"![{text}]", line)))
    if not edits:
        return None
    index, new = draw(st.sampled_from(edits))
    return [*lines[:index], new, *lines[index + 1 :]]


def _comment(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    latex = name.endswith(".tex")
    if draw(st.booleans()) and latex:
        prose, _ = places(name, "\n".join(lines))
        if not prose:
            return None
        index = draw(st.sampled_from(prose))
        return [*lines[:index], lines[index] + " % a note to self", *lines[index + 1 :]]
    return _insert(draw, name, lines, ["% figbuild ignores this" if latex else "<!-- a note to self -->"])


def _todo(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    if not name.endswith(".tex"):
        return _comment(draw, name, lines)
    if draw(st.booleans()):
        return _insert(draw, name, lines, ["\\todo[inline]{Rewrite this paragraph.}"])
    prose, _ = places(name, "\n".join(lines))
    if not prose:
        return None
    index = draw(st.sampled_from(prose))
    return [*lines[:index], lines[index] + " \\todo{cite}", *lines[index + 1 :]]


def _package(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    roots = [i for i, line in enumerate(lines) if line.startswith("\\documentclass")]
    if not roots:
        return _chunk_option(draw, name, lines)
    package = draw(st.sampled_from(["xcolor", "hyperref", "microtype", "todonotes"]))
    return [*lines[: roots[0] + 1], f"\\usepackage{{{package}}}", *lines[roots[0] + 1 :]]


def _chunk_option(draw: st.DrawFn, name: str, lines: list[str]) -> list[str] | None:
    openers = [i for i, line in enumerate(lines) if line.startswith("```{")]
    if not openers:
        return None
    index = draw(st.sampled_from(openers))
    option = draw(st.sampled_from(["#| echo: false", "#| warning: false", "#| fig-width: 6"]))
    return [*lines[: index + 1], option, *lines[index + 1 :]]


EDITS: dict[str, Edit] = {
    "split": _split,
    "join": _join,
    "blank": _blank,
    "remove-blank": _remove_blank,
    "label": _label,
    "figure": _figure,
    "caption": _caption,
    "comment": _comment,
    "todo": _todo,
    "package": _package,
    "chunk-option": _chunk_option,
}


@st.composite
def presentation_edits(draw: st.DrawFn, family: str) -> tuple[dict[str, str], list[str]]:
    """The family's files after 1-4 presentation-only edits, and what they were."""
    files = family_files(family)
    done = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(files)))
        kind = draw(st.sampled_from(sorted(EDITS)))
        edited = EDITS[kind](draw, name, files[name].split("\n"))
        if edited is not None:
            files[name] = "\n".join(edited)
            done.append(f"{kind} in {name}")
    return files, done


@st.composite
def word_edit(draw: st.DrawFn, family: str) -> tuple[dict[str, str], tuple[str, int]]:
    """The family's files with one word of prose changed, and its (file, 1-based line)."""
    files = family_files(family)
    choices = []
    for name, text in files.items():
        lines = text.split("\n")
        choices.extend((name, i) for i in places(name, text)[0] if _WORD.search(lines[i]))
    name, index = draw(st.sampled_from(sorted(choices)))
    lines = files[name].split("\n")
    words = list(_WORD.finditer(lines[index]))
    word = draw(st.sampled_from(words))
    line = lines[index]
    lines[index] = line[: word.start()] + word.group(0) + "zq" + line[word.end() :]
    files[name] = "\n".join(lines)
    return files, (name, index + 1)


@pytest.mark.parametrize("family", FAMILIES)
def test_presentation_edits_change_no_digest(family: str) -> None:
    @EXAMPLES
    @given(presentation_edits(family))
    def check(edited: tuple[dict[str, str], list[str]]) -> None:
        files, done = edited
        assert digests(files, family) == baseline(family), done

    check()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_word_edit_changes_exactly_the_figures_that_take_its_line(family: str) -> None:
    @WORD_EXAMPLES
    @given(word_edit(family))
    def check(edited: tuple[dict[str, str], tuple[str, int]]) -> None:
        files, where = edited
        after = read_all(files, family)
        changed = {fid for fid, (digest, _) in after.items() if digest != baseline(family)[fid]}
        assert changed == {fid for fid, taken in spans(family).items() if where in taken}, where
        # A digest change always shows in `figbuild diff`: the words sent differ too.
        for fid in changed:
            assert after[fid][1].split() != baseline_texts(family)[fid].split(), fid

    check()


def test_the_corpus_gives_every_family_figures_and_edit_places() -> None:
    for family in FAMILIES:
        assert len(family_figures(family)) >= 3, family
        assert all(places(n, t)[0] for n, t in family_files(family).items() if "generated" not in n), family


# -- end to end: the emulator's ledger -------------------------------------------------


def manifest() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for fid, (file, section, label) in FIGURES.items():
        content: dict[str, str] = {"file": file}
        if section is not None:
            content["section"] = section
        if label is not None:
            content["label"] = label
        figures[fid] = {"prompt": f"Figure {fid}", "content": content}
    return {"version": 1, "figures": figures}


@pytest.fixture(scope="module")
def synced_families(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("families") / "paper"
    shutil.copytree(FAMILIES_DIR, root)
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest(), sort_keys=False), encoding="utf-8")
    with Emulator() as server:
        result = run_sync(server, root)
        assert not result.failed, result.failed
        assert len(server.tasks()) == len(FIGURES)
    return root


@settings(EXAMPLES, max_examples=4, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_presentation_edits_send_no_request(
    data: st.DataObject, synced_families: Path, emulator: Emulator
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "paper"
        shutil.copytree(synced_families, root)
        for family in FAMILIES:
            files, _ = data.draw(presentation_edits(family))
            write(root, files)
        result = run_sync(emulator, root)
        assert not result.failed
        assert result.plan.empty
    assert emulator.records() == [], "not a single request"
