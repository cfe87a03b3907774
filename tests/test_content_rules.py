"""The content rules one by one: includes, what is dropped, how sections are found.

SPEC, "The manifest": what is hashed and sent is the text the author means as the
paper's prose. Each rule has a unit test here; tests/test_content_corpus.py checks
the same rules end to end against the emulator.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild.content import ContentError, ContentReader, normalise, section
from figbuild.manifest import ContentSource


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def read(root: Path, pattern: str, section: str | None = None, label: str | None = None) -> str:
    (part,) = ContentReader(root).parts(ContentSource(pattern, section, anchor=label))
    assert part.text is not None
    return part.text


def tex(text: str) -> str:
    return normalise(text, "latex")


def md(text: str) -> str:
    return normalise(text, "markdown")


# -- LaTeX: what is dropped -------------------------------------------------------------


def test_comment_environment_is_dropped() -> None:
    text = (
        "Before.\n\\begin{comment}\nOld text.\n\\begin{comment}nested\\end{comment}\n\\end{comment}\nAfter.\n"
    )
    assert tex(text) == "Before. After."


def test_iffalse_block_is_dropped_with_nested_conditionals() -> None:
    text = "Kept.\n\\iffalse\nOff \\ifdraft draft \\fi still off.\n\\fi\nAlso kept.\n"
    assert tex(text) == "Kept. Also kept."


def test_iffalse_else_branch_is_kept() -> None:
    assert tex("\\iffalse hidden \\else shown \\fi end.") == "shown end."


def test_iff_and_ifthenelse_do_not_count_as_conditionals() -> None:
    text = "\\iffalse $a \\iff b$ \\ifthenelse{x}{y}{z} gone \\fi Kept."
    assert tex(text) == "Kept."


@pytest.mark.parametrize(
    "note",
    [
        "\\todo{Cite more work.}",
        "\\todo[inline]{Rewrite {this} sentence.}",
        "\\todo[color=red]{Multi\nline note.}",
        "\\missingfigure{Loss curves.}",
        "\\missingfigure[figwidth=6cm]{A plot.}",
    ],
)
def test_notes_are_dropped(note: str) -> None:
    assert tex(f"We fuse depth. {note}\nAnd colour.") == "We fuse depth. And colour."


@pytest.mark.parametrize(
    "environment", ["figure", "figure*", "wrapfigure", "subfigure", "SCfigure", "sidewaysfigure"]
)
def test_figure_floats_are_dropped(environment: str) -> None:
    text = (
        f"Prose before.\n\\begin{{{environment}}}[t]\n\\centering\n"
        "\\includegraphics{a.png}\n\\caption{A caption.}\n\\label{fig:a}\n"
        f"\\end{{{environment}}}\nProse after.\n"
    )
    assert tex(text) == "Prose before. Prose after."


def test_nested_subfigures_go_with_their_figure() -> None:
    text = (
        "A.\n\\begin{figure}\n\\begin{subfigure}{0.5\\linewidth}x\\end{subfigure}\n"
        "\\begin{figure}inner\\end{figure}\n\\caption{c}\n\\end{figure}\nB.\n"
    )
    assert tex(text) == "A. B."


def test_tables_and_equations_stay() -> None:
    text = "\\begin{table}\n\\caption{Results.}\n\\end{table}\n\\begin{equation}\nx = 1\n\\end{equation}\n"
    assert (
        tex(text) == "\\begin{table} \\caption{Results.} \\end{table} \\begin{equation} x = 1 \\end{equation}"
    )


def test_stray_includegraphics_is_dropped() -> None:
    assert tex("Logo: \\includegraphics[width=2cm]{logo.png}\nText.") == "Logo: Text."
    assert tex("A.\n\\includegraphics{x}\n\nB.") == "A.\n\nB."


def test_ignore_markers_drop_the_region_between() -> None:
    text = (
        "Kept.\n% figbuild: ignore-start\nDraft text.\n\\section{Not a heading}\n"
        "%figbuild: ignore-end\nAlso kept.\n"
    )
    assert tex(text) == "Kept. Also kept."


def test_an_unclosed_ignore_region_is_an_error_naming_the_line() -> None:
    with pytest.raises(ContentError, match=r":2: `figbuild: ignore-start` has no"):
        tex("Kept.\n% figbuild: ignore-start\nDraft.\n")


def test_text_after_end_document_is_dropped() -> None:
    assert tex("\\begin{document}\nBody.\n\\end{document}\nScratch notes.\n") == "\\begin{document} Body."


def test_a_commented_begin_does_not_open_an_environment() -> None:
    assert tex("% \\begin{comment}\nKept.\n") == "Kept."


def test_a_figure_in_the_middle_of_a_paragraph_does_not_split_it() -> None:
    assert tex("One\n\\begin{figure}x\\end{figure}\ntwo.") == "One two."


# -- LaTeX: includes --------------------------------------------------------------------


def test_input_is_followed_with_tex_implied(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "main.tex": "\\section{Method}\n\\input{sections/method}\n\\section{Next}\nNo.\n",
            "sections/method.tex": "Method body.\n",
        },
    )
    assert read(root, "main.tex", "Method") == "\\section{Method} Method body."


@pytest.mark.parametrize(
    "command",
    [
        "\\input{sections/method.tex}",
        "\\input sections/method",
        "\\include{sections/method}",
        "\\subfile{sections/method}",
        "\\import{sections/}{method}",
        "\\subimport{sections/}{method.tex}",
    ],
)
def test_every_include_command_is_followed(tmp_path: Path, command: str) -> None:
    root = write(tmp_path, {"main.tex": f"Intro.\n{command}\n", "sections/method.tex": "Method body.\n"})
    assert read(root, "main.tex") == "Intro. Method body."


def test_paths_are_relative_to_the_root_as_tex_runs_there(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "main.tex": "\\input{sections/method}\n",
            "sections/method.tex": "\\input{sections/details}\n",
            "sections/details.tex": "From the root.\n",
        },
    )
    assert read(root, "main.tex") == "From the root."


def test_import_makes_inner_inputs_relative_to_its_directory(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "main.tex": "\\import{chapters/one/}{chapter}\n",
            "chapters/one/chapter.tex": "Chapter. \\input{part}\n\\subimport{deeper/}{leaf}\n",
            "chapters/one/part.tex": "Part.\n",
            "chapters/one/deeper/leaf.tex": "Leaf.\n",
            "part.tex": "Wrong part.\n",
        },
    )
    assert read(root, "main.tex") == "Chapter. Part. Leaf."


def test_a_subfile_contributes_its_body_only(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "main.tex": "\\section{Intro}\n\\subfile{chapters/intro}\n\\section{Next}\nNext.\n",
            "chapters/intro.tex": (
                "\\documentclass[../main.tex]{subfiles}\n\\usepackage{x}\n\\begin{document}\n"
                "Intro body.\n\\end{document}\n"
            ),
        },
    )
    assert read(root, "main.tex", "Intro") == "\\section{Intro} Intro body."
    assert "Next." in read(root, "main.tex", "Next")


def test_a_missing_include_names_file_and_line(tmp_path: Path) -> None:
    root = write(tmp_path, {"main.tex": "One.\n\n\\input{sections/gone}\n"})
    with pytest.raises(ContentError, match=r"main\.tex:3: \\input\{sections/gone\}: no such file"):
        read(root, "main.tex")


def test_an_include_cycle_is_an_error(tmp_path: Path) -> None:
    root = write(tmp_path, {"a.tex": "A.\n\\input{b}\n", "b.tex": "B.\n\\input{a}\n"})
    with pytest.raises(ContentError, match=r"b\.tex:2: .* an include cycle \(a\.tex -> b\.tex -> a\.tex\)"):
        read(root, "a.tex")


def test_the_same_file_included_twice_is_not_a_cycle(tmp_path: Path) -> None:
    root = write(tmp_path, {"main.tex": "\\input{x}\n\\input{x}\n", "x.tex": "X.\n"})
    assert read(root, "main.tex") == "X. X."


@pytest.mark.parametrize("command", ["\\input{../outside}", "\\input{/etc/passwd}", "\\import{../}{outside}"])
def test_includes_never_leave_the_paper_root(tmp_path: Path, command: str) -> None:
    (tmp_path / "outside.tex").write_text("Private.\n")
    root = write(tmp_path / "paper", {"main.tex": f"{command}\n"})
    with pytest.raises(ContentError, match="outside the paper root"):
        read(root, "main.tex")


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.tex").write_text("Private.\n")
    root = write(tmp_path / "paper", {"main.tex": "\\input{linked}\n"})
    (root / "linked.tex").symlink_to(tmp_path / "outside.tex")
    with pytest.raises(ContentError, match="outside the paper root"):
        read(root, "main.tex")


def test_includes_inside_dropped_text_are_not_followed(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"main.tex": "Kept.\n% \\input{gone}\n\\begin{figure}\\input{figures/plot.tikz}\\end{figure}\n"},
    )
    assert read(root, "main.tex") == "Kept."


def test_an_include_built_by_a_macro_is_kept_and_warned_about(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"main.tex": "\\section{Method}\n\\label{sec:method}\n\\input{\\sectiondir/method}\n"},
    )
    (part,) = ContentReader(root).parts(ContentSource("main.tex", "Method"))
    assert part.text == "\\section{Method} \\label{sec:method} \\input{\\sectiondir/method}"
    assert len(part.warnings) == 1
    assert "cannot follow" in part.warnings[0]


def test_parts_name_every_file_they_were_read_from(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "main.tex": "\\section{A}\n\\input{a}\n\\section{B}\n\\input{b}\n",
            "a.tex": "A.\n",
            "b.tex": "B.\n",
        },
    )
    (part,) = ContentReader(root).parts(ContentSource("main.tex", "A"))
    assert part.files == ("main.tex", "a.tex")
    assert [str(span) for span in part.spans] == ["main.tex:1", "a.tex:1"]


# -- Markdown: what is dropped ----------------------------------------------------------

FRONT_MATTER = """\
---
title: 'A paper'
tags:
  - Python
  # a YAML comment, not a heading
# Optional fields
bibliography: paper.bib
---

# Summary

Text.
"""


def test_front_matter_is_dropped_and_yields_no_sections() -> None:
    assert md(FRONT_MATTER) == "# Summary\n\nText."
    with pytest.raises(ContentError) as info:
        section(FRONT_MATTER, "markdown", "Optional fields", "paper.md")
    assert info.value.hint == "near matches first: section: 'Summary' (paper.md:10)"


def test_a_thematic_break_later_is_not_front_matter() -> None:
    assert md("Text.\n\n---\n\nMore.\n") == "Text.\n\n---\n\nMore."


def test_html_comments_are_dropped_inline_and_across_lines() -> None:
    text = "Kept <!-- inline --> text.\n<!--\n# Not a heading\n-->\nMore.\n"
    assert md(text) == "Kept text.\nMore."


@pytest.mark.parametrize(
    "image",
    [
        "![Caption.\\label{fig:x}](figures/x.png){ width=80% }",
        "![](a.png) ![](b.png)",
        "![Distance.](d.png){#fig-distance}",
        '<img src="x.png" width="50%">',
    ],
)
def test_image_lines_are_dropped(image: str) -> None:
    assert md(f"Before.\n\n{image}\n\nAfter.\n") == "Before.\n\nAfter."


def test_an_inline_image_in_prose_stays() -> None:
    assert md("See ![icon](i.png) here.\n") == "See ![icon](i.png) here."


def test_figure_divs_are_dropped() -> None:
    text = (
        "Before.\n\n::: {#fig-arch layout-ncol=2}\n![](a.png)\n\n"
        "::: {.note}\nNested.\n:::\nCaption.\n:::\n\nAfter.\n"
    )
    assert md(text) == "Before.\n\nAfter."


def test_other_divs_stay() -> None:
    assert md("::: {.callout-note}\nA note.\n:::\n") == "::: {.callout-note}\nA note.\n:::"


def test_markdown_ignore_markers() -> None:
    text = "Kept.\n<!-- figbuild: ignore-start -->\nDraft.\n<!-- figbuild: ignore-end -->\nAlso kept.\n"
    assert md(text) == "Kept.\nAlso kept."


def test_comments_and_images_inside_code_blocks_stay() -> None:
    text = "```html\n<!-- kept -->\n![](x.png)\n```\n"
    assert md(text) == text.strip()


# -- Sections ---------------------------------------------------------------------------

DOC = r"""\section{Introduction}
Intro.
\section[Method]{A Flow-Based \emph{Method}}
\label{sec:method}
Method.
\subsection{Setup}
Method setup.
\section{Experiments}
\label{sec:experiments}
\subsection{Setup}
\label{sec:exp-setup}
Experiment setup.
\subsection{Empty}
% only a comment
\begin{figure}\caption{only a figure}\end{figure}
\section{Conclusion}
Done.
"""


@pytest.mark.parametrize(
    "title",
    ["A Flow-Based Method", "a flow-based method", "A  Flow-Based\n\\emph{Method}", "Method", "method"],
)
def test_titles_match_ignoring_macros_case_spacing_or_by_short_title(title: str) -> None:
    assert section(DOC, "latex", title, "p.tex").endswith("Method setup.")


def test_a_path_names_a_nested_heading() -> None:
    assert section(DOC, "latex", "Experiments/Setup", "p.tex") == (
        "\\subsection{Setup} \\label{sec:exp-setup} Experiment setup."
    )
    assert section(DOC, "latex", "method/setup", "p.tex") == "\\subsection{Setup} Method setup."


def test_an_ambiguous_title_lists_each_match_and_suggests_a_fix() -> None:
    with pytest.raises(ContentError) as info:
        section(DOC, "latex", "Setup", "p.tex")
    message = str(info.value)
    assert "matches 2 headings" in message
    assert "p.tex:6 'A Flow-Based \\emph{Method}/Setup'" in message
    assert "p.tex:10 'Experiments/Setup'" in message
    assert info.value.hint is not None
    assert "label:" in info.value.hint


def test_the_hint_shows_titles_as_written() -> None:
    with pytest.raises(ContentError) as info:
        section(DOC, "latex", "Related Work", "p.tex")
    assert info.value.hint is not None
    assert "'A Flow-Based \\emph{Method}'" in info.value.hint
    assert "\\\\" not in info.value.hint


def test_label_picks_the_heading_it_follows(tmp_path: Path) -> None:
    root = write(tmp_path, {"p.tex": DOC})
    assert read(root, "p.tex", label="sec:exp-setup") == (
        "\\subsection{Setup} \\label{sec:exp-setup} Experiment setup."
    )
    assert read(root, "p.tex", label="sec:method").endswith("Method setup.")


def test_a_label_later_in_a_section_still_names_it(tmp_path: Path) -> None:
    root = write(tmp_path, {"p.tex": "\\section{A}\nText.\n\\label{sec:a}\n\\section{B}\nB.\n"})
    assert read(root, "p.tex", label="sec:a") == "\\section{A} Text. \\label{sec:a}"


def test_an_unknown_label_is_an_error_listing_the_labels(tmp_path: Path) -> None:
    root = write(tmp_path, {"p.tex": DOC})
    with pytest.raises(ContentError, match="no heading labelled 'sec:nope'") as info:
        read(root, "p.tex", label="sec:nope")
    assert info.value.hint is not None
    assert "sec:exp-setup" in info.value.hint


def test_a_markdown_label_is_the_heading_id(tmp_path: Path) -> None:
    root = write(tmp_path, {"p.qmd": "## Intro {#sec-intro}\nA.\n## Method {#sec-method .unnumbered}\nB.\n"})
    assert read(root, "p.qmd", label="sec-method") == "## Method {#sec-method .unnumbered}\nB."


def test_a_section_empty_after_the_rules_is_an_error() -> None:
    with pytest.raises(ContentError, match=r"section 'Empty' \(p\.tex:13\) has no text"):
        section(DOC, "latex", "Empty", "p.tex")
    with pytest.raises(ContentError, match="has no text"):
        section("# A\n\n![](x.png)\n\n# B\nB.\n", "markdown", "A", "p.md")


def test_sections_span_included_files(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "main.tex": "\\input{intro}\n\\input{method}\n\\section{Conclusion}\nEnd.\n",
            "intro.tex": "\\section{Intro}\nIntro.\n",
            "method.tex": "\\section{Method}\nFirst.\n\\subsection{Detail}\n\\input{detail}\n",
            "detail.tex": "Detail.\n",
        },
    )
    assert read(root, "main.tex", "Method") == "\\section{Method} First. \\subsection{Detail} Detail."
    assert read(root, "main.tex", "Method/Detail") == "\\subsection{Detail} Detail."


def test_markdown_emphasis_is_ignored_in_titles() -> None:
    assert section("# The *Flow* `Model`\nBody.\n", "markdown", "the flow model", "p.md").endswith("Body.")


# -- Properties: arbitrary text never raises anything but ContentError ------------------

TOKENS = st.sampled_from(
    [
        "\\section{",
        "\\subsection[",
        "]",
        "{",
        "}",
        "\\",
        "%",
        "\\%",
        "\n",
        "\n\n",
        " ",
        "\\begin{figure}",
        "\\end{figure}",
        "\\begin{comment}",
        "\\end{comment}",
        "\\iffalse",
        "\\else",
        "\\fi",
        "\\todo{",
        "\\includegraphics[",
        "\\label{sec:x}",
        "\\input{",
        "\\end{document}",
        "figbuild: ignore-start",
        "figbuild: ignore-end",
        "# ",
        "## ",
        "---\n",
        "<!--",
        "-->",
        "::: {#fig-a}",
        ":::",
        "```",
        "![a](b.png)",
        "{#sec-x}",
        "Method",
        "word",
    ]
)
ARBITRARY = st.one_of(st.text(), st.lists(st.one_of(TOKENS, st.text(max_size=5)), max_size=40).map("".join))


@given(text=ARBITRARY, kind=st.sampled_from(["latex", "markdown", "text"]))
@settings(max_examples=300, deadline=None)
def test_normalise_never_raises_but_content_error(text: str, kind: str) -> None:
    with contextlib.suppress(ContentError):
        normalise(text, kind)


@given(
    text=ARBITRARY,
    kind=st.sampled_from(["latex", "markdown"]),
    title=st.sampled_from(["Method", "x/Method", "a"]),
)
@settings(max_examples=300, deadline=None)
def test_section_never_raises_but_content_error(text: str, kind: str, title: str) -> None:
    with contextlib.suppress(ContentError):
        section(text, kind, title, "p")


@given(main=ARBITRARY, other=ARBITRARY, label=st.sampled_from([None, "sec:x", "sec-x"]))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_reading_with_includes_never_raises_but_content_error(
    main: str, other: str, label: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write(Path(tmp), {"main.tex": main + "\\input{other}", "other.tex": other, "p.md": main})
        for source in (
            ContentSource("main.tex"),
            ContentSource("main.tex", None if label else "Method", anchor=label),
            ContentSource("p.md", None if label else "Method", anchor=label),
        ):
            with contextlib.suppress(ContentError):
                ContentReader(root).parts(source)


# -- keep_figures -----------------------------------------------------------------------


def test_keep_figures_keeps_floats_and_images(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "p.tex": "Text.\n\\begin{figure}\\includegraphics{a}\\caption{Cap.}\\end{figure}\n\\todo{note}\n",
            "p.md": "Text.\n\n![Cap.](a.png)\n\n::: {#fig-a}\nDiv.\n:::\n",
        },
    )
    dropped = [ContentReader(root).parts(ContentSource(f))[0] for f in ("p.tex", "p.md")]
    kept = [ContentReader(root).parts(ContentSource(f, keep_figures=True))[0] for f in ("p.tex", "p.md")]
    assert [p.text for p in dropped] == ["Text.", "Text."]
    assert [p.text for p in kept] == [
        "Text. \\begin{figure}\\includegraphics{a}\\caption{Cap.}\\end{figure}",  # notes still go
        "Text.\n\n![Cap.](a.png)\n\n::: {#fig-a}\nDiv.\n:::",
    ]
    assert dropped[0].digest != kept[0].digest


def test_the_content_cache_is_keyed_by_the_rules_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import time

    from figbuild.cache import Cache
    from figbuild.content import reader
    from figbuild.digests import StatCache

    root = write(tmp_path, {"p.tex": "Text.\n"})
    old = time.time_ns() - 10**10
    os.utime(root / "p.tex", ns=(old, old))
    cache = Cache(None)
    ContentReader(root, StatCache(cache, "content")).parts(ContentSource("p.tex"))
    (hit,) = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("p.tex"))
    assert hit.text is None
    monkeypatch.setattr(reader, "RULES_VERSION", reader.RULES_VERSION + 1)
    (miss,) = ContentReader(root, StatCache(cache, "content")).parts(ContentSource("p.tex"))
    assert miss.text == "Text.", "a digest made under other rules is not reused"


def test_errors_quote_titles_as_written() -> None:
    with pytest.raises(ContentError) as info:
        section(DOC, "latex", "The \\emph{Missing} Part", "p.tex")
    assert "no section titled 'The \\emph{Missing} Part'" in str(info.value)


def test_windows_line_endings_change_nothing() -> None:
    markdown = "---\ntitle: x\n---\n# Sum\n\nText.\n<!-- c -->\n# B\nb\n"
    latex = "\\section{A}\nText. % c\n\nMore.\n\\section{B}\nB.\n"
    assert section(markdown.replace("\n", "\r\n"), "markdown", "sum", "p") == section(
        markdown, "markdown", "sum", "p"
    )
    assert section(latex.replace("\n", "\r\n"), "latex", "a", "p") == section(latex, "latex", "a", "p")
