"""The content rules applied: from a file's text to a document, a section, a part.

Only imported when a file must be read (a stat-cache miss), so that a no-op
``status`` loads none of the parsing modules.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import replace

from figbuild.content import includes, latex, macros
from figbuild.content.canonical import canonical, has_code, latex_forms, sent_text
from figbuild.content.model import ContentError, ContentPart, Line, label_of, sha256_text, split_lines
from figbuild.content.text import Document, find_section

_LATEX_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
#: The kinds of file whose headings are parsed (Markdown's parser, with the rest of
#: :mod:`.markdown`, is imported when a Markdown file is read: an edit of a LaTeX file
#: loads none of it).
_PARSED = ("latex", "markdown")


def document_of(text: str, name: str, kind: str, keep_figures: bool = False) -> Document:
    """The document of one file's ``text``, without following includes."""
    if kind == "latex":
        texts, code = latex.clean(text, name, keep_figures)
    elif kind == "markdown":
        from figbuild.content import markdown

        texts, code = markdown.clean(text, name, keep_figures)
    else:
        texts, code = list(split_lines(text)), frozenset()
    lines = [
        Line(name, number, line, number - 1 in code)
        for number, line in enumerate(texts, 1)
        if line is not None
    ]
    if kind == "latex":
        return _latex_document(lines, {})
    if kind == "markdown":
        from figbuild.content import markdown

        return Document.of(lines, kind, markdown.parse)
    return Document.of(lines, kind, None)


def _latex_document(
    lines: list[Line], missing: dict[tuple[str, int], ContentError], defines: bool = True
) -> Document:
    """The document of LaTeX lines: macros applied, the preamble gone, headings found (each
    knowing its title as written too, so that a selector may leave user macros out).
    ``defines`` False: no line may define a macro or hold a conditional (:func:`.macros.process`)."""
    processed, expanded = macros.process(lines, defines)
    document = Document.of(latex.body_of(processed), "latex", latex.parse, missing)
    if not expanded or not document.headings:
        return document
    written = {(line.file, line.number): line.text for line in lines if "\\" in line.text}
    headings = []
    for heading in document.headings:
        line = document.lines[bisect.bisect_right(document.starts, heading.start) - 1]
        match = latex.HEADING.search(written.get((line.file, line.number), ""))
        raw = None
        if match is not None:
            text = written[(line.file, line.number)]
            close = latex.closing_brace(text, match.end())
            raw = " ".join(text[match.end() : close].split()) if close is not None else None
        headings.append(replace(heading, raw=raw) if raw is not None and raw != heading.title else heading)
    return replace(document, headings=tuple(headings))


def expanded(
    files: includes.Files, relative: str, keep_figures: bool, cache: dict[bool, includes.Expander]
) -> tuple[Document, tuple[str, ...]]:
    """The LaTeX document of ``relative`` with its includes followed, and every file read."""
    expander = cache.get(keep_figures)
    if expander is None:
        expander = cache[keep_figures] = includes.Expander(files, keep_figures)
    expansion = expander.expand(relative)
    return _latex_document(expansion.lines, expansion.missing, expansion.macros), tuple(expansion.files)


def expanded_markdown(
    files: includes.Files, relative: str, keep_figures: bool
) -> tuple[Document, tuple[str, ...]]:
    """The Markdown document of ``relative`` with its Quarto includes followed, and every file read."""
    from figbuild.content import markdown

    expansion = markdown.expand(files, relative, keep_figures)
    return Document.of(expansion.lines, "markdown", markdown.parse, expansion.missing), tuple(expansion.files)


def select(document: Document, name: str, section: str | None, anchor: str | None) -> list[Line]:
    """The lines a part takes from ``document``: all, or one section (never an empty one)."""
    if section is None and anchor is None:
        lines = list(document.lines)
        _check_missing(document, lines)
        return lines
    if document.kind not in _PARSED:
        raise ContentError(f"{name}: sections can only be picked from LaTeX (.tex) or Markdown (.md) files")
    lines = find_section(document, name, section, anchor)
    _check_missing(document, lines)
    if _is_empty("\n".join([line.text for line in lines]).strip(), document.kind):
        wanted = f"label '{anchor}'" if anchor is not None else f"'{section}'"
        raise ContentError(
            f"{name}: section {wanted} ({lines[0].file}:{lines[0].number}) has no text once comments, "
            "figures and notes are dropped",
            hint="pick a section with prose, or set keep_figures: true if the figures are the point",
        )
    return lines


def _check_missing(document: Document, lines: list[Line]) -> None:
    """A missing include is an error only for the part whose lines include it."""
    if not document.missing:
        return
    for line in lines:
        error = document.missing.get((line.file, line.number))
        if error is not None:
            raise ContentError(str(error), error.hint)


def _is_empty(text: str, kind: str) -> bool:
    if kind == "markdown":
        rest = text.partition("\n")[2]
        underline, _, after = rest.partition("\n")
        if _SETEXT.match(underline):
            rest = after
        return not rest.strip()
    head = latex.HEADING.match(text)
    if head is None:
        return not text.strip()
    close = latex.closing_brace(text, head.end())
    rest = text[close + 1 :] if close is not None else ""
    return not _LATEX_LABEL.sub("", rest).strip()


def part_of(
    document: Document, relative: str, section: str | None, anchor: str | None, keep_figures: bool
) -> ContentPart:
    """The part ``document`` gives for a section (or all of it), with its sources and warnings."""
    lines = select(document, relative, section, anchor)
    kind = document.kind
    # The canonical form of each run of lines from one file: the part's is their words in
    # order (no construct spans an include), each file's is what it contributed.
    runs: list[tuple[str, str]] = []
    code = has_code(lines)
    if kind == "latex" and not code:
        text, spans, runs = latex_forms(lines, keep_figures)
    else:
        text, spans = sent_text(lines, kind)
        start = 0
        for index in range(1, len(lines) + 1):
            if index == len(lines) or lines[index].file != lines[start].file:
                # each run's own lines decide whether it has code
                runs.append(
                    (
                        lines[start].file,
                        canonical(lines[start:index], kind, keep_figures, None if code else False),
                    )
                )
                start = index
    digest = sha256_text(" ".join(form for _, form in runs if form))
    by_file: dict[str, list[str]] = {}
    for file, form in runs:
        by_file.setdefault(file, []).append(form)
    if len(by_file) == 1:
        sources = tuple((file, digest) for file in by_file)
    else:
        sources = tuple(
            (file, sha256_text(" ".join(form for form in forms if form))) for file, forms in by_file.items()
        )
    label = label_of(relative, section, anchor)
    return ContentPart(
        label,
        relative,
        section,
        digest,
        len(text),
        text,
        spans,
        sources,
        _warnings(label, text, kind),
        anchor,
        keep_figures,
        sha256_text(text),
    )


def _warnings(label: str, text: str, kind: str) -> tuple[str, ...]:
    """A part that is mostly include commands figbuild could not follow sends no prose."""
    if kind != "latex" or "\\" not in text:
        return ()
    unfollowed = latex.UNFOLLOWED.findall(text)
    if not unfollowed:
        return ()
    prose = latex.UNFOLLOWED.sub("", _LATEX_LABEL.sub("", text))
    head = latex.HEADING.match(prose)
    if head is not None:
        close = latex.closing_brace(prose, head.end())
        prose = prose[close + 1 :] if close is not None else ""
    if len(prose.strip()) >= sum(len(command) for command in unfollowed):
        return ()
    shown = ", ".join(unfollowed[:3])
    return (
        f"{label} is mostly include commands figbuild cannot follow ({shown}): their file names "
        "are built by macros, so the API would get little paper text; name the files in content instead",
    )
