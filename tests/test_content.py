"""Paper content: normalisation, sections, globs, and what edits do to fingerprints.

The promise under test (SPEC, "The manifest"): what is fingerprinted is the text the
API receives, so a comment-only or spacing-only edit leaves a figure fresh, and a
real edit makes exactly the figures that use the file stale, saying which file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from figbuild.cache import Cache
from figbuild.content import ContentError, ContentReader, normalise, section, strip_latex_comment
from figbuild.digests import StatCache
from figbuild.manifest import ContentSource
from figbuild.paper import Paper

from .conftest import PaperFactory, simple_manifest

RunCli = Callable[..., Result]


def latex_section(text: str, title: str) -> str:
    return section(normalise(text, "latex"), "latex", title, "paper.tex")


def markdown_section(text: str, title: str) -> str:
    return section(normalise(text, "markdown"), "markdown", title, "paper.md")


# -- LaTeX: comments and whitespace -----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("plain text", ("plain text", False)),
        ("text % a comment", ("text ", True)),
        ("% only a comment", ("", True)),
        (r"50\% of pixels", (r"50\% of pixels", False)),
        (r"50\% of pixels % but this goes", (r"50\% of pixels ", True)),
        (r"end of line\\% comment after a line break", (r"end of line\\", True)),
        (r"\\\% three backslashes escape it", (r"\\\% three backslashes escape it", False)),
        ("", ("", False)),
    ],
)
def test_strip_latex_comment(line: str, expected: tuple[str, bool]) -> None:
    assert strip_latex_comment(line) == expected


def test_latex_comments_are_dropped() -> None:
    assert normalise("We fuse depth % TODO cite\nand colour.\n", "latex") == "We fuse depth and colour."


def test_latex_escaped_percent_is_kept() -> None:
    assert normalise(r"A 50\% gain.", "latex") == r"A 50\% gain."


def test_latex_line_break_then_comment_drops_the_comment() -> None:
    assert normalise("First\\\\% a comment\nSecond\n", "latex") == "First\\\\ Second"


def test_latex_comment_only_line_vanishes_entirely() -> None:
    # Not even as a paragraph break: TeX itself ignores such a line.
    assert normalise("One\n% a note to self\nTwo\n", "latex") == "One Two"
    assert normalise("One\n   %indented note\nTwo\n", "latex") == "One Two"
    assert normalise("% header\n\nOne\n", "latex") == "One"


def test_latex_rewrapping_a_paragraph_gives_the_same_text() -> None:
    narrow = "We fuse depth\nand colour with\n  a learned flow.\n"
    wide = "We   fuse depth and colour\twith a learned flow.   \n"
    assert (
        normalise(narrow, "latex")
        == normalise(wide, "latex")
        == "We fuse depth and colour with a learned flow."
    )


def test_latex_paragraphs_are_kept() -> None:
    text = "First paragraph,\ntwo lines.\n\n\n\nSecond paragraph.\n\n"
    assert normalise(text, "latex") == "First paragraph, two lines.\n\nSecond paragraph."
    assert normalise("One.\nTwo.\n", "latex") != normalise("One.\n\nTwo.\n", "latex")


def test_markdown_keeps_lines_and_collapses_blanks() -> None:
    text = "# Title\n\n\n- item   one\n- item two   \n\n    code   kept indented\n"
    assert normalise(text, "markdown") == "# Title\n\n- item one\n- item two\n\n    code kept indented"


def test_markdown_percent_is_not_a_comment() -> None:
    assert normalise("A 50% gain.\n", "markdown") == "A 50% gain."


# -- LaTeX sections ---------------------------------------------------------------------

PAPER_TEX = r"""\documentclass{article}
\begin{document}
\section{Introduction}
Intro text.

\section{Method}
Method text.
\subsection{Training}
Training text.
\subsection{Inference}
Inference text.

\section{Results}
Results text.
\end{document}
"""


def test_latex_section_runs_to_the_next_section() -> None:
    method = latex_section(PAPER_TEX, "Method")
    assert method.startswith(r"\section{Method}")
    assert "Method text." in method
    assert "Intro text." not in method
    assert "Results" not in method


def test_latex_subsections_belong_to_their_section() -> None:
    method = latex_section(PAPER_TEX, "Method")
    assert r"\subsection{Training} Training text." in method
    assert "Inference text." in method


def test_latex_subsection_ends_at_the_next_subsection_or_section() -> None:
    assert latex_section(PAPER_TEX, "Training") == r"\subsection{Training} Training text."
    assert latex_section(PAPER_TEX, "Inference") == r"\subsection{Inference} Inference text."


def test_latex_section_ends_at_end_of_document() -> None:
    text = PAPER_TEX + "Stray text after the document.\n"
    assert latex_section(text, "Results") == r"\section{Results} Results text."


def test_latex_starred_section_and_chapters() -> None:
    text = (
        "\\chapter{Background}\nOld work.\n\\section*{Notation}\nSymbols.\n\\section{Priors}\nPriors.\n"
        "\\chapter{Our Method}\nNew work.\n"
    )
    assert latex_section(text, "Notation") == r"\section*{Notation} Symbols."
    background = latex_section(text, "Background")
    assert "Symbols." in background
    assert "Priors." in background
    assert "New work." not in background
    assert latex_section(text, "Our Method") == r"\chapter{Our Method} New work."


def test_latex_optional_short_title_matches_the_long_title() -> None:
    text = "\\section[Method]{A Flow-Based Method for Fusion}\nBody.\n\\section{Next}\nNo.\n"
    assert latex_section(text, "A Flow-Based Method for Fusion") == (
        r"\section[Method]{A Flow-Based Method for Fusion} Body."
    )


def test_latex_nested_braces_in_title() -> None:
    text = "\\section{The \\emph{Flow} Model}\nBody.\n\\section{Next}\nNo.\n"
    assert latex_section(text, r"The \emph{Flow} Model") == r"\section{The \emph{Flow} Model} Body."


def test_latex_title_whitespace_is_normalised() -> None:
    text = "\\section {  Related   Work }\nBody.\n"
    assert latex_section(text, "Related Work") == r"\section { Related Work } Body."


def test_latex_commented_out_heading_is_not_a_heading() -> None:
    text = "\\section{Method}\nMethod text.\n%\\section{Training}\nStill method.\n\\section{Results}\nR.\n"
    assert "Still method." in latex_section(text, "Method")
    with pytest.raises(ContentError):
        latex_section(text, "Training")


def test_latex_missing_section_lists_the_sections_there() -> None:
    with pytest.raises(ContentError) as info:
        latex_section(PAPER_TEX, "Experiments")
    assert "'Experiments'" in str(info.value)
    assert "paper.tex" in str(info.value)
    assert info.value.hint is not None
    for name in ("Introduction", "Method", "Training", "Inference", "Results"):
        assert name in info.value.hint  # as a path with its parents: 'Method/Training'
    assert "section: 'Method/Training'" in info.value.hint


def test_sections_only_from_latex_or_markdown() -> None:
    with pytest.raises(ContentError, match="sections can only be picked"):
        section("Method\n\ntext", "text", "Method", "notes.txt")


# -- Markdown sections ------------------------------------------------------------------

PAPER_MD = """\
# Paper

Intro.

## Method

Method text.

### Details

Details text.

## Training {#sec:train .unnumbered}

Training text.

```python
# not a heading
x = 1
```

~~~
# also not a heading
## nor this
~~~

More training.

## Results ##

Results text.

# Appendix

Appendix text.
"""


def test_markdown_section_includes_deeper_headings() -> None:
    method = markdown_section(PAPER_MD, "Method")
    assert method.startswith("## Method")
    assert "### Details\n\nDetails text." in method
    assert "Training" not in method
    assert "Intro." not in method


def test_markdown_section_ends_at_a_higher_level_heading() -> None:
    results = markdown_section(PAPER_MD, "Results")
    assert results == "## Results ##\n\nResults text."


def test_markdown_deeper_section_ends_at_its_parent_level() -> None:
    assert markdown_section(PAPER_MD, "Details") == "### Details\n\nDetails text."


def test_markdown_fenced_code_comments_are_not_headings() -> None:
    training = markdown_section(PAPER_MD, "Training")
    assert "# not a heading" in training
    assert "# also not a heading" in training
    assert "More training." in training
    assert "Results" not in training
    for fake in ("not a heading", "also not a heading", "nor this"):
        with pytest.raises(ContentError):
            markdown_section(PAPER_MD, fake)


def test_markdown_pandoc_attributes_are_not_part_of_the_title() -> None:
    assert markdown_section(PAPER_MD, "Training").startswith("## Training {#sec:train .unnumbered}")
    text = "## Training {#sec:train}\nBody.\n"
    assert markdown_section(text, "Training") == "## Training {#sec:train}\nBody."


def test_markdown_closing_hashes_are_not_part_of_the_title() -> None:
    assert markdown_section("## Results ##\nBody.\n", "Results") == "## Results ##\nBody."
    assert markdown_section("## Using C#\nBody.\n", "Using C#") == "## Using C#\nBody."


def test_markdown_hash_without_space_is_not_a_heading() -> None:
    text = "## Method\n#hashtag line\nBody.\n"
    assert markdown_section(text, "Method") == "## Method\n#hashtag line\nBody."


def test_markdown_missing_section_lists_the_sections_there() -> None:
    with pytest.raises(ContentError) as info:
        markdown_section(PAPER_MD, "Training loop")
    assert info.value.hint is not None
    for name in ("Paper", "Method", "Details", "Training", "Results", "Appendix"):
        assert name in info.value.hint
    assert info.value.hint.startswith("near matches first: section: 'Paper/Training' or label: 'sec:train'")
    assert "not a heading" not in info.value.hint


# -- ContentReader: files, globs, the root ----------------------------------------------


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return root


def test_glob_expands_in_sorted_order_and_labels_each_file(tmp_path: Path) -> None:
    root = write(
        tmp_path / "paper",
        {  # written out of order: the order must come from sorting, not the directory
            "sections/appendix-c.tex": "C text. % comment\n",
            "sections/appendix-a.tex": "A text.\n",
            "sections/appendix-b.tex": "B text.\n",
            "sections/method.tex": "Not an appendix.\n",
        },
    )
    parts = ContentReader(root).parts(ContentSource("sections/appendix-*.tex"))
    assert [(p.label, p.text) for p in parts] == [
        ("sections/appendix-a.tex", "A text."),
        ("sections/appendix-b.tex", "B text."),
        ("sections/appendix-c.tex", "C text."),
    ]


def test_double_star_glob_recurses(tmp_path: Path) -> None:
    root = write(
        tmp_path / "paper",
        {"top.tex": "Top.\n", "ch/one.tex": "One.\n", "ch/deep/two.tex": "Two.\n", "ch/notes.md": "Md.\n"},
    )
    parts = ContentReader(root).parts(ContentSource("**/*.tex"))
    assert sorted(p.label for p in parts) == ["ch/deep/two.tex", "ch/one.tex", "top.tex"]
    assert [p.label for p in parts] == sorted(p.label for p in parts)


def test_glob_skips_directories(tmp_path: Path) -> None:
    root = write(
        tmp_path / "paper", {"sections/a.tex": "A.\n", "sections/b.tex/inner.txt": "dir, not a file\n"}
    )
    assert [p.label for p in ContentReader(root).parts(ContentSource("sections/*.tex"))] == ["sections/a.tex"]


def test_glob_with_section_labels_file_and_section(tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"a.md": "# Method\nA.\n", "b.md": "# Method\nB.\n# Other\nNo.\n"})
    parts = ContentReader(root).parts(ContentSource("*.md", section="Method"))
    assert [(p.label, p.text) for p in parts] == [
        ("a.md#Method", "# Method\nA."),
        ("b.md#Method", "# Method\nB."),
    ]


def test_part_digest_is_of_the_normalised_text(tmp_path: Path) -> None:
    root = write(tmp_path / "one", {"m.tex": "We fuse\ndepth. % note\n"})
    other = write(tmp_path / "two", {"m.tex": "We   fuse depth.\n% another note\n"})
    changed = write(tmp_path / "three", {"m.tex": "We fuse colour.\n"})
    (a,) = ContentReader(root).parts(ContentSource("m.tex"))
    (b,) = ContentReader(other).parts(ContentSource("m.tex"))
    (c,) = ContentReader(changed).parts(ContentSource("m.tex"))
    assert a.digest == b.digest
    assert a.digest != c.digest


def test_parts_name_the_files_they_were_read_from(tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"a.tex": "A.\n", "b.tex": "B.\n", "c.md": "C.\n"})
    parts = ContentReader(root).parts(ContentSource("*.tex"))
    assert [part.file for part in parts] == ["a.tex", "b.tex"]


def _old(path: Path) -> None:
    """Date a file back so the stat cache may trust it (recent files are always re-read)."""
    os.utime(path, ns=(time.time_ns() - 10**10, time.time_ns() - 10**10))


def test_stat_cache_skips_unchanged_files_and_sees_same_size_edits(tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"a.tex": "\\section{A}\nAlpha.\n"})
    _old(root / "a.tex")
    cache = Cache(None)
    first = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex", "A"))
    assert first[0].text is not None
    second = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex", "A"))
    assert second[0].text is None, "unchanged: digest from the cache, file not read"
    assert (second[0].digest, second[0].length) == (first[0].digest, first[0].length)
    (root / "a.tex").write_text("\\section{A}\nOmega.\n")  # same size, new content
    _old(root / "a.tex")
    third = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex", "A"))
    assert third[0].text is not None
    assert third[0].digest != first[0].digest


def test_recently_modified_files_are_never_trusted(tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"a.tex": "Alpha.\n"})
    cache = Cache(None)
    ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex"))
    again = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex"))
    assert again[0].text is not None, "a file written this second could change again unseen"


def test_fill_reads_the_text_and_refuses_a_file_changed_since(tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"a.tex": "Alpha.\n"})
    _old(root / "a.tex")
    cache = Cache(None)
    ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex"))
    [part] = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("a.tex"))
    assert ContentReader(root).fill(part).text == "Alpha."
    (root / "a.tex").write_text("Beta.\n")
    with pytest.raises(ContentError, match="changed while figbuild was working"):
        ContentReader(root).fill(part)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("missing.tex", "does not exist"),
        ("nothing-*.tex", "matches no file"),
        ("../outside.tex", "outside the paper root"),
        ("../*.tex", "outside the paper root"),
        ("linked.tex", "outside the paper root"),
        ("sections", "not a file"),
        ("latin1.tex", "not UTF-8"),
    ],
)
def test_reader_refuses(pattern: str, message: str, tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"sections/a.tex": "A.\n", "latin1.tex": b"caf\xe9\n"})
    (tmp_path / "outside.tex").write_text("Private.\n", encoding="utf-8")
    (root / "linked.tex").symlink_to(tmp_path / "outside.tex")
    with pytest.raises(ContentError, match=message):
        ContentReader(root).parts(ContentSource(pattern))


def test_reader_refuses_absolute_paths(tmp_path: Path) -> None:
    outside = tmp_path / "outside.tex"
    outside.write_text("Private.\n", encoding="utf-8")
    root = write(tmp_path / "paper", {"a.tex": "A.\n"})
    with pytest.raises(ContentError, match="absolute"):
        ContentReader(root).parts(ContentSource(str(outside)))


def test_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    root = write(tmp_path / "paper", {"sections/real.tex": "Real text.\n"})
    (root / "alias.tex").symlink_to(root / "sections" / "real.tex")
    (part,) = ContentReader(root).parts(ContentSource("alias.tex"))
    assert (part.label, part.text) == ("alias.tex", "Real text.")


# -- fingerprints through a real paper on disk ------------------------------------------

METHOD_TEX = r"""\section{Method}
% the core idea; keep this short
We fuse depth and colour
with a learned flow field. % cite FlowNet here
A 50\% gain.

\subsection{Losses}
Segmentation and smoothness.
"""

OTHER_TEX = r"""\section{Related work}
Earlier fusion methods.
"""

PAPER_MD_SMALL = """\
# Paper

Intro text.

## Training

Two stages.

## Results

Good numbers.
"""


def _manifest(**overrides: Any) -> dict[str, Any]:
    figures: dict[str, dict[str, Any]] = {
        "overview": {"prompt": "Overview of {{ method }}.", "content": "sections/method.tex"},
        "details": {"prompt": "Details.", "content": ["sections/method.tex", "sections/other.tex"]},
        "related": {"prompt": "Related work to {{ method }}.", "content": "sections/other.tex"},
        "training": {"prompt": "Training loop.", "content": [{"file": "paper.md", "section": "Training"}]},
        "teaser": {"prompt": "A teaser.", "mode": "standard"},
    }
    for figure_id, changes in overrides.items():
        figures[figure_id] = {**figures[figure_id], **changes}
    return simple_manifest(**figures)


FIGURES = ("overview", "details", "related", "training", "teaser")


@pytest.fixture
def synced_paper(make_paper: PaperFactory, run_cli: RunCli) -> Path:
    root = make_paper(
        _manifest(),
        files={
            "sections/method.tex": METHOD_TEX,
            "sections/other.tex": OTHER_TEX,
            "paper.md": PAPER_MD_SMALL,
        },
    )
    result = run_cli("sync", "--placeholder", root=root)
    assert result.exit_code == 0, result.output
    assert (root / "figures.lock").is_file()
    return root


def fingerprints(root: Path) -> dict[str, str]:
    return {item.figure.id: item.fingerprint.digest for item in Paper.open(root).resolve()}


def reasons(root: Path, run_cli: RunCli) -> dict[str, list[str]]:
    result = run_cli("status", "--json", root=root)
    assert result.exit_code == 0, result.output
    return {row["id"]: row["reasons"] for row in json.loads(result.stdout)}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_placeholder_sync_baseline(synced_paper: Path, run_cli: RunCli) -> None:
    paper = Paper.open(synced_paper)
    statuses = paper.statuses(paper.resolve(), paper.read_lock())
    assert [s.id for s in statuses] == list(FIGURES)
    assert {s.state.value for s in statuses} == {"stale"}
    assert all(s.reasons == ("placeholder",) for s in statuses)
    assert all(
        s.resolved.fingerprint.digest == s.record.generated.fingerprint
        for s in statuses
        if s.record.generated
    )
    assert reasons(synced_paper, run_cli) == {figure_id: ["placeholder"] for figure_id in FIGURES}


def test_comment_only_edit_changes_no_fingerprint(synced_paper: Path, run_cli: RunCli) -> None:
    before = fingerprints(synced_paper)
    method = synced_paper / "sections" / "method.tex"
    edit(method, "% the core idea; keep this short", "% the core idea -- rewritten note, much longer now")
    edit(method, "% cite FlowNet here", "% cite FlowNet and PWC-Net here")
    edit(
        method,
        "A 50\\% gain.",
        "A 50\\% gain. % a brand new trailing comment\n% and a whole new comment line",
    )
    assert fingerprints(synced_paper) == before
    assert reasons(synced_paper, run_cli) == {figure_id: ["placeholder"] for figure_id in FIGURES}


def test_whitespace_only_edit_changes_no_fingerprint(synced_paper: Path, run_cli: RunCli) -> None:
    before = fingerprints(synced_paper)
    method = synced_paper / "sections" / "method.tex"
    edit(
        method,
        "We fuse depth and colour\nwith a learned flow field.",
        "We  fuse\tdepth\nand colour with a\n   learned flow field.   ",
    )
    edit(method, "\n\n\\subsection", "\n\n\n\n\\subsection")
    method.write_text(method.read_text(encoding="utf-8") + "\n\n\n", encoding="utf-8")
    assert fingerprints(synced_paper) == before
    assert reasons(synced_paper, run_cli) == {figure_id: ["placeholder"] for figure_id in FIGURES}


def test_word_change_stales_exactly_the_figures_using_the_file(synced_paper: Path, run_cli: RunCli) -> None:
    before = fingerprints(synced_paper)
    edit(synced_paper / "sections" / "method.tex", "learned flow field", "learned warp field")
    after = fingerprints(synced_paper)
    assert {f for f in FIGURES if after[f] != before[f]} == {"overview", "details"}
    assert reasons(synced_paper, run_cli) == {
        "overview": ["placeholder", "content sections/method.tex changed"],
        "details": ["placeholder", "content sections/method.tex changed"],
        "related": ["placeholder"],
        "training": ["placeholder"],
        "teaser": ["placeholder"],
    }


def test_a_paragraph_break_is_presentation(synced_paper: Path) -> None:
    # SPEC: adding or removing blank lines anywhere changes no digest (it is still sent).
    before = fingerprints(synced_paper)
    edit(
        synced_paper / "sections" / "method.tex", "We fuse depth and colour\n", "We fuse depth and colour\n\n"
    )
    assert fingerprints(synced_paper)["overview"] == before["overview"]


def test_var_change_stales_only_figures_whose_prompt_uses_it(
    synced_paper: Path, make_paper: PaperFactory, run_cli: RunCli
) -> None:
    before = fingerprints(synced_paper)
    manifest = _manifest()
    manifest["vars"] = {"method": "WarpNet"}
    make_paper(manifest, root=synced_paper)
    after = fingerprints(synced_paper)
    assert {f for f in FIGURES if after[f] != before[f]} == {"overview", "related"}
    assert reasons(synced_paper, run_cli) == {
        "overview": ["placeholder", "var method changed"],
        "details": ["placeholder"],
        "related": ["placeholder", "var method changed"],
        "training": ["placeholder"],
        "teaser": ["placeholder"],
    }


def test_unused_var_change_stales_nothing(synced_paper: Path, make_paper: PaperFactory) -> None:
    before = fingerprints(synced_paper)
    manifest = _manifest()
    manifest["vars"] = {"method": "FlowNet", "unused": "anything"}
    make_paper(manifest, root=synced_paper)
    assert fingerprints(synced_paper) == before


def test_resolution_change_is_named(synced_paper: Path, make_paper: PaperFactory, run_cli: RunCli) -> None:
    before = fingerprints(synced_paper)
    make_paper(_manifest(teaser={"resolution": "2K"}), root=synced_paper)
    after = fingerprints(synced_paper)
    assert {f for f in FIGURES if after[f] != before[f]} == {"teaser"}
    assert reasons(synced_paper, run_cli)["teaser"] == ["placeholder", "resolution 1K -> 2K"]


def test_markdown_edit_outside_the_section_leaves_the_figure_unchanged(
    synced_paper: Path, run_cli: RunCli
) -> None:
    before = fingerprints(synced_paper)
    paper_md = synced_paper / "paper.md"
    edit(paper_md, "Intro text.", "A completely different introduction.")
    edit(paper_md, "Good numbers.", "Even better numbers.")
    assert fingerprints(synced_paper) == before
    assert reasons(synced_paper, run_cli)["training"] == ["placeholder"]


def test_markdown_edit_inside_the_section_changes_the_figure(synced_paper: Path, run_cli: RunCli) -> None:
    before = fingerprints(synced_paper)
    edit(synced_paper / "paper.md", "Two stages.", "Three stages.")
    after = fingerprints(synced_paper)
    assert {f for f in FIGURES if after[f] != before[f]} == {"training"}
    assert reasons(synced_paper, run_cli)["training"] == ["placeholder", "content paper.md#Training changed"]


def test_an_include_candidate_that_appears_later_is_followed_despite_the_stat_cache(tmp_path: Path) -> None:
    # \input{intro} reads intro.tex; "intro" itself is looked for first by LaTeX's rules
    # or the other way round: whichever candidate was missing, it appearing must count.
    root = write(
        tmp_path / "paper", {"main.tex": "\\section{M}\n\\input{parts/intro}\n", "parts/intro": "Plain.\n"}
    )
    for path in root.rglob("*"):
        _old(path)
    cache = Cache(None)
    first = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("main.tex"))
    (root / "parts" / "intro.tex").write_text("With the extension.\n")
    _old(root / "parts" / "intro.tex")
    again = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("main.tex"))
    cold = ContentReader(root).parts(ContentSource("main.tex"))
    assert again[0].digest == cold[0].digest
    assert first[0].digest != cold[0].digest


def test_a_content_folder_swapped_for_a_symlink_out_of_the_paper_is_refused_despite_the_stat_cache(
    tmp_path: Path,
) -> None:
    root = write(tmp_path / "paper", {"main.tex": "\\input{sections/intro}\n", "sections/intro.tex": "In.\n"})
    for path in root.rglob("*"):
        _old(path)
    cache = Cache(None)
    ContentReader(root, StatCache(cache, "content")).parts(ContentSource("main.tex"))
    (root / "sections").rename(tmp_path / "outside")
    (root / "sections").symlink_to(tmp_path / "outside")
    with pytest.raises(ContentError, match="outside the paper"):
        ContentReader(root, StatCache(cache, "content")).parts(ContentSource("main.tex"))
