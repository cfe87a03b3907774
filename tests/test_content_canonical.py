"""Issue 19, "What users hit": each edit that re-billed a figure or sent the wrong text.

SPEC, "The manifest": the digest is taken over a canonical form of the prose, so
presentation never counts; macros, conditionals, verbatim and headings are read as
the reader reads them. One test per report, each failing on the rules before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from figbuild.content import ContentError, ContentPart, ContentReader
from figbuild.manifest import ContentSource

from .conftest import PaperFactory

RunCli = Callable[..., Result]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def part(root: Path, pattern: str, section: str | None = None, label: str | None = None) -> ContentPart:
    (only,) = ContentReader(root).parts(ContentSource(pattern, section, anchor=label))
    return only


def digest_of(tmp_path: Path, name: str, text: str, section: str | None = None) -> str:
    root = tmp_path / f"paper-{abs(hash(text))}"
    write(root, {name: text})
    return part(root, name, section).digest


def sent(root: Path, pattern: str, section: str | None = None, label: str | None = None) -> str:
    text = part(root, pattern, section, label).text
    assert text is not None
    return text


# -- Money lost ---------------------------------------------------------------------------


MD = (
    "# Method\n\nWe fuse depth and colour with a learned flow field. It warps the features.\n\n"
    "# Results\n\nGood.\n"
)


@pytest.mark.parametrize(
    "rewrapped",
    [
        MD.replace("colour with", "colour\nwith"),
        MD.replace(". It warps", ".\nIt warps"),
        MD.replace("# Method\n\n", "# Method\n"),
    ],
)
def test_a_rewrapped_markdown_paragraph_keeps_its_digest(tmp_path: Path, rewrapped: str) -> None:
    assert digest_of(tmp_path, "paper.md", rewrapped, "Method") == digest_of(
        tmp_path, "paper.md", MD, "Method"
    )


def test_a_rewrapped_markdown_paragraph_is_still_sent_as_written(tmp_path: Path) -> None:
    write(tmp_path, {"paper.md": MD.replace(". It warps", ".\nIt warps")})
    assert sent(tmp_path, "paper.md", "Method").endswith("flow field.\nIt warps the features.")


TEX = (
    "\\section{Method}\n\\subsection{Encoder}\\label{sec:enc}\nWe fuse depth and colour.\n"
    "A flow field warps them.\n\\section{Results}\nGood.\n"
)
FLOAT = "\\begin{figure}[t]\n\\includegraphics{f.png}\n\\caption{A plot.}\n\\end{figure}\n"


@pytest.mark.parametrize(
    "edited",
    [
        TEX.replace("\\label{sec:enc}\n", "\\label{sec:enc}\n\n" + FLOAT),
        TEX.replace("\\label{sec:enc}\n", "\\label{sec:enc}\n" + FLOAT + "\n"),
        TEX.replace("\\label{sec:enc}\n", "\\label{sec:enc}\n\n"),
        TEX.replace("colour.\n", "colour.\n\n\n"),
    ],
)
def test_a_float_or_blank_line_after_a_heading_keeps_the_digest(tmp_path: Path, edited: str) -> None:
    before = digest_of(tmp_path, "main.tex", TEX, "Method")
    assert digest_of(tmp_path, "main.tex", edited, "Method") == before
    assert digest_of(tmp_path, "main.tex", edited, "Encoder") == digest_of(
        tmp_path, "main.tex", TEX, "Encoder"
    )


ROOT = (
    "\\documentclass{article}\n\\usepackage{amsmath}\n\\newcommand{\\ours}{GraphFlow}\n"
    "\\begin{document}\n\\section{Intro}\n\\ours{} fuses depth.\n\\end{document}\n"
)


def test_the_preamble_is_neither_sent_nor_hashed(tmp_path: Path) -> None:
    with_package = ROOT.replace("\\usepackage{amsmath}", "\\usepackage{amsmath}\n\\usepackage{xcolor}")
    assert digest_of(tmp_path, "main.tex", with_package) == digest_of(tmp_path, "main.tex", ROOT)
    write(tmp_path, {"main.tex": ROOT})
    assert sent(tmp_path, "main.tex") == "\\section{Intro} GraphFlow fuses depth."


def test_a_macro_definition_the_prose_uses_counts(tmp_path: Path) -> None:
    renamed = ROOT.replace("{GraphFlow}", "{GraphWarp}")
    assert digest_of(tmp_path, "main.tex", renamed) != digest_of(tmp_path, "main.tex", ROOT)


BOOK = (
    "\\newcommand{\\sectionNotes}{\\section*{Notes}}\n\\newcommand{\\Exercises}{\\addsec{Exercises}}\n"
    "\\addchap{Preface}\nWhy this book.\n\\chapter{Flows}\n\\section{Basics}\nA flow moves mass.\n"
    "\\sectionNotes\nHistorical notes.\n\\Exercises\nProve it.\n\\addsec{Further reading}\nBooks.\n"
)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Basics", "\\section{Basics} A flow moves mass."),
        ("Notes", "\\section*{Notes} Historical notes."),
        ("Exercises", "\\addsec{Exercises} Prove it."),
        ("Preface", "\\addchap{Preface} Why this book."),
        ("Further reading", "\\addsec{Further reading} Books."),
    ],
)
def test_koma_headings_and_heading_macros_end_sections(tmp_path: Path, title: str, expected: str) -> None:
    write(tmp_path, {"book.tex": BOOK})
    assert sent(tmp_path, "book.tex", title) == expected


def test_an_exercise_edit_does_not_restale_the_section_before_it(tmp_path: Path) -> None:
    edited = BOOK.replace("Prove it.", "Prove it twice.")
    assert digest_of(tmp_path, "book.tex", edited, "Basics") == digest_of(
        tmp_path, "book.tex", BOOK, "Basics"
    )


@pytest.mark.parametrize(
    ("name", "text", "labelled"),
    [
        ("main.tex", TEX, TEX.replace("\\section{Method}", "\\section{Method}\\label{sec:method}")),
        ("main.tex", TEX, TEX.replace("\\section{Method}", "\\section{Method} \\label{sec:method}")),
        ("paper.md", MD, MD.replace("# Method", "# Method {#sec-method}")),
        ("paper.qmd", MD, MD.replace("# Method", "# Method {#sec-method .unnumbered}")),
    ],
)
def test_a_label_or_attribute_on_a_heading_keeps_the_digest(
    tmp_path: Path, name: str, text: str, labelled: str
) -> None:
    assert digest_of(tmp_path, name, labelled, "Method") == digest_of(tmp_path, name, text, "Method")


QMD = (
    '# Results\n\nThe loss falls.\n\n```{python}\n#| label: fig-loss\n#| fig-cap: "Loss."\n'
    "plot(loss)\n```\n\nIt keeps falling.\n"
)


def test_a_quarto_figure_chunk_and_its_caption_are_presentation(tmp_path: Path) -> None:
    recaptioned = QMD.replace('"Loss."', '"Training loss, smoothed."')
    assert digest_of(tmp_path, "paper.qmd", recaptioned) == digest_of(tmp_path, "paper.qmd", QMD)
    write(tmp_path, {"paper.qmd": QMD})
    assert sent(tmp_path, "paper.qmd") == "# Results\n\nThe loss falls.\n\nIt keeps falling."


def test_a_chunk_options_edit_is_presentation(tmp_path: Path) -> None:
    chunk = "# Code\n\nWe run:\n\n```{python}\n#| echo: false\nrun()\n```\n"
    assert digest_of(tmp_path, "a.qmd", chunk.replace("echo: false", "echo: true")) == digest_of(
        tmp_path, "a.qmd", chunk
    )


def test_an_image_whose_caption_spans_lines_is_not_sent(tmp_path: Path) -> None:
    text = (
        "# Results\n\nThe loss falls.\n\n![Training loss over\nfive seeds.](loss.png){#fig-loss}\n\nMore.\n"
    )
    write(tmp_path, {"paper.md": text})
    assert sent(tmp_path, "paper.md") == "# Results\n\nThe loss falls.\n\nMore."


# -- Wrong figure -------------------------------------------------------------------------


def test_a_quarto_include_is_followed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "chapters/method.qmd": (
                "# Method {#sec-method}\n\n{{< include _method.qmd >}}\n\n# Next\n\nOther.\n"
            ),
            "chapters/_method.qmd": "We fuse depth and colour.\n",
        },
    )
    found = part(tmp_path, "chapters/method.qmd", label="sec-method")
    assert found.text == "# Method {#sec-method}\n\nWe fuse depth and colour."
    assert found.files == ("chapters/method.qmd", "chapters/_method.qmd")


def test_a_missing_quarto_include_is_reported_by_line(tmp_path: Path) -> None:
    write(tmp_path, {"a.qmd": "# A\n\n{{< include gone.qmd >}}\n"})
    with pytest.raises(ContentError, match=r"a\.qmd:3: .*no such file"):
        part(tmp_path, "a.qmd")


def test_a_quarto_include_cycle_is_reported_by_line(tmp_path: Path) -> None:
    write(tmp_path, {"a.qmd": "A\n{{< include b.qmd >}}\n", "b.qmd": "B\n\n{{< include a.qmd >}}\n"})
    with pytest.raises(ContentError, match=r"b\.qmd:3: .*cycle"):
        part(tmp_path, "a.qmd")


@pytest.mark.parametrize("environment", ["lstlisting", "verbatim", "minted}{python"])
def test_percent_in_code_is_text_and_code_keeps_its_lines(tmp_path: Path, environment: str) -> None:
    end = environment.partition("}")[0]
    text = f"Run it:\n\\begin{{{environment}}}\nx = 5 % 3\n  y = x\n\\end{{{end}}}\nDone.\n"
    write(tmp_path, {"a.tex": text})
    assert "x = 5 % 3\n  y = x\n" in sent(tmp_path, "a.tex")
    assert digest_of(tmp_path, "a.tex", text.replace("% 3", "% 4")) != digest_of(tmp_path, "a.tex", text)


def test_percent_in_verb_is_text(tmp_path: Path) -> None:
    write(tmp_path, {"a.tex": "Use \\verb|a % b| for it. % a comment\n"})
    assert sent(tmp_path, "a.tex") == "Use \\verb|a % b| for it."


MACROS = (
    "\\newcommand{\\ours}{GraphFlow}\n\\section{\\ours: Method}\nWe present \\ours, a model.\n"
    "\\section{Other}\nx\n"
)


def test_a_user_macro_is_sent_expanded_and_its_definition_counts(tmp_path: Path) -> None:
    write(tmp_path, {"a.tex": MACROS})
    assert (
        sent(tmp_path, "a.tex", "GraphFlow: Method")
        == "\\section{GraphFlow: Method} We present GraphFlow, a model."
    )
    renamed = MACROS.replace("{GraphFlow}", "{GraphWarp}")
    assert digest_of(tmp_path, "a.tex", renamed, "Other") == digest_of(tmp_path, "a.tex", MACROS, "Other")
    assert digest_of(tmp_path, "a.tex", renamed, "GraphWarp: Method") != digest_of(
        tmp_path, "a.tex", MACROS, "GraphFlow: Method"
    )


def test_macros_with_arguments_and_defaults(tmp_path: Path) -> None:
    text = (
        "\\newcommand{\\best}[2][bold]{\\textbf{#2} (#1)}\n\\def\\pair#1#2{(#1, #2)}\n"
        "\\providecommand{\\best}{never}\n\\def\\loop{\\loop}\n"
        "A \\best{x}, \\best[it]{y}, \\pair{a}{b}. \\loop\n"
    )
    write(tmp_path, {"a.tex": text})
    assert sent(tmp_path, "a.tex") == "A \\textbf{x} (bold), \\textbf{y} (it), (a, b). \\loop"


def test_newif_conditionals_keep_the_live_branch_only(tmp_path: Path) -> None:
    text = (
        "\\newif\\ifarxiv\n\\arxivtrue\n\\section{Method}\n"
        "\\ifarxiv\nLong proof.\n\\else\nSee the appendix.\n\\fi\n"
        "\\iffalse Hidden. \\else Shown. \\fi\n\\section{Next}\n"
    )
    write(tmp_path, {"a.tex": text})
    assert sent(tmp_path, "a.tex", "Method") == "\\section{Method} Long proof. Shown."
    write(tmp_path, {"b.tex": text.replace("\\arxivtrue", "\\arxivfalse")})
    assert sent(tmp_path, "b.tex", "Method") == "\\section{Method} See the appendix. Shown."


def test_definitions_inside_a_conditional_never_closed_are_cut_once(tmp_path: Path) -> None:
    """A false \\if with no \\fi leaves out the rest of the file, as TeX reads it; the
    definitions in that rest were cut twice (as definitions and as the dead branch),
    and the overlapping cuts crashed the reader with an IndexError."""
    text = "Before.\n\\newif\\ifarxiv\n\\ifarxiv \\pair{a}{b}\n\\def\\foo{F}\n\\gdef\\Ex{Exercise} After.\n"
    write(tmp_path, {"a.tex": text})
    assert sent(tmp_path, "a.tex") == "Before."
    write(tmp_path, {"b.tex": text.replace("\\ifarxiv \\pair", "\\arxivtrue\n\\ifarxiv \\pair")})
    assert sent(tmp_path, "b.tex") == "Before. \\pair{a}{b} After."


def test_setext_headings_are_headings(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"a.md": "Intro\n=====\n\nHello.\n\nMethod\n------\n\nWe fuse.\n\nResults\n-------\n\nGood.\n"},
    )
    assert sent(tmp_path, "a.md", "Method") == "Method\n------\n\nWe fuse."


# -- Build blocked ------------------------------------------------------------------------


def test_a_missing_input_outside_the_section_does_not_matter(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.tex": (
                "\\documentclass{article}\n\\input{authors}\n\\begin{document}\n\\input{version}\n"
                "\\section{Method}\nWe fuse.\n\\section{Appendix}\n\\input{generated/table}\n"
                "\\end{document}\n"
            )
        },
    )
    assert sent(tmp_path, "main.tex", "Method") == "\\section{Method} We fuse."
    with pytest.raises(ContentError, match=r"main\.tex:8: .*generated/table.*no such file"):
        part(tmp_path, "main.tex", "Appendix")


def test_an_input_guarded_by_iffileexists_is_optional(tmp_path: Path) -> None:
    text = "Intro. \\IfFileExists{version.tex}{\\input{version}}{unversioned}\n"
    write(tmp_path, {"a.tex": text})
    assert sent(tmp_path, "a.tex") == "Intro. unversioned"
    write(tmp_path, {"version.tex": "v1.2"})
    assert sent(tmp_path, "a.tex") == "Intro. v1.2"


def _two_figures(make_paper: PaperFactory) -> Path:
    return make_paper(
        {
            "version": 1,
            "figures": {
                "method": {"prompt": "Method.", "content": {"file": "main.tex", "section": "Method"}},
                "intro": {"prompt": "Intro.", "content": {"file": "main.tex", "section": "Intro"}},
            },
        },
        files={"main.tex": "\\section{Intro}\nHello.\n\\section{Method}\\label{sec:method}\nWe fuse.\n"},
    )


def test_a_renamed_section_is_an_error_row_and_the_others_keep_their_states(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = _two_figures(make_paper)
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    edit(root / "main.tex", "\\section{Method}", "\\section{Our Method}")
    result = run_cli("status", "--json", root=root)
    assert result.exit_code == 2
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["intro"]["state"] == "stale"  # a placeholder: stale, as it was
    assert rows["method"]["state"] == "error"
    assert "no section titled 'Method'" in rows["method"]["reasons"][0]
    table = run_cli("status", root=root)
    assert table.exit_code == 2
    assert [line.split()[:2] for line in table.stdout.splitlines()[:2]] == [
        ["method", "error"],
        ["intro", "stale"],
    ]


def test_best_effort_keeps_the_image_of_an_unresolvable_figure_with_one_warning(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = _two_figures(make_paper)
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    image = (root / "figures" / "method.png").read_bytes()
    edit(root / "main.tex", "\\section{Method}", "\\section{Our Method}")
    result = run_cli("sync", "--best-effort", root=root)
    assert result.exit_code == 0
    # One summary line for the pass; the content error is named with its figure and fix,
    # not hidden behind the missing key that stops every figure.
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    named = warnings[0].index("method (")
    assert "no section titled 'Method'" in warnings[0][named:]
    assert "fix its content" in warnings[0][named:]
    assert "keeps its image" in warnings[0]
    assert (root / "figures" / "method.png").read_bytes() == image


def test_a_selector_error_lists_near_matches_first_with_paths_and_labels(tmp_path: Path) -> None:
    text = (
        "\\section{Intro}\n\\section{Method}\\label{sec:method}\n\\subsection{Flow Encoder}\\label{sec:enc}\n"
        "x\n" + "".join(f"\\section{{Topic {n}}}\ny\n" for n in range(30))
    )
    write(tmp_path, {"main.tex": text})
    with pytest.raises(ContentError) as caught:
        part(tmp_path, "main.tex", "Flow encoders")
    hint = caught.value.hint or ""
    assert hint.startswith(
        "near matches first: section: 'Method/Flow Encoder' or label: 'sec:enc' (main.tex:3)"
    )
    assert "and 27 more" in hint


def test_a_suggested_title_with_a_backslash_pastes_as_valid_yaml(tmp_path: Path) -> None:
    write(tmp_path, {"main.tex": "\\section{The \\emph{Flow} Model}\nx\n"})
    with pytest.raises(ContentError) as caught:
        part(tmp_path, "main.tex", "Flow Modl")
    suggestion = (caught.value.hint or "").removeprefix("near matches first: ").split(" (")[0]
    pasted = yaml.safe_load(f"content:\n  file: main.tex\n  {suggestion}\n")
    assert pasted["content"]["section"] == "The \\emph{Flow} Model"
    assert (
        part(tmp_path, "main.tex", pasted["content"]["section"]).text == "\\section{The \\emph{Flow} Model} x"
    )


def test_deps_lists_quarto_includes(make_paper: PaperFactory, run_cli: RunCli) -> None:
    root = make_paper(
        {
            "version": 1,
            "figures": {"m": {"prompt": "M.", "content": {"file": "ch/m.qmd", "section": "Method"}}},
        },
        files={"ch/m.qmd": "# Method\n\n{{< include _part.qmd >}}\n", "ch/_part.qmd": "We fuse.\n"},
    )
    result = run_cli("deps", root=root)
    assert result.exit_code == 0
    assert "ch/_part.qmd" in result.stdout.split()


def test_show_prints_a_macro_using_section_expanded_with_file_and_lines(
    make_paper: PaperFactory, run_cli: RunCli
) -> None:
    root = make_paper(
        {
            "version": 1,
            "figures": {"m": {"prompt": "M.", "content": {"file": "main.tex", "section": "Method"}}},
        },
        files={
            "main.tex": (
                "\\documentclass{article}\n\\newcommand{\\ours}{GraphFlow}\n\\begin{document}\n"
                "\\section{\\ours: Method}\n\\input{sections/method}\n\\end{document}\n"
            ),
            "sections/method.tex": "We present \\ours.\n\\ours{} is fast.\n",
        },
    )
    result = run_cli("show", "m", root=root)
    assert result.exit_code == 0
    assert "--- part 1: main.tex#Method (main.tex:4, sections/method.tex:1-2)" in result.stdout
    assert "\\section{GraphFlow: Method} We present GraphFlow. GraphFlow is fast." in result.stdout
    assert "\\ours" not in result.stdout


def test_a_starred_include_is_followed(tmp_path: Path) -> None:
    # excludeonly's \include*, as in a public paper tried for issue 19 (CROCUS).
    write(tmp_path, {"main.tex": "\\include*{intro}\n", "intro.tex": "\\section{Introduction}\nCrowds.\n"})
    assert sent(tmp_path, "main.tex", "Introduction") == "\\section{Introduction} Crowds."
