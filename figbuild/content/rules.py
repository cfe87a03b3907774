"""The content rules applied: from a file's text to a document, a section, a part.

Only imported when a file must be read (a stat-cache miss), so that a no-op
``status`` loads none of the parsing modules.
"""

from __future__ import annotations

import re
from dataclasses import replace

from figbuild.content import latex, macros, markdown
from figbuild.content.canonical import canonical, sent_text
from figbuild.content.model import ContentError, ContentPart, Line, label_of, sha256_text, split_lines
from figbuild.content.text import Document, find_section, where

_LATEX_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_PARSERS = {"latex": latex.parse, "markdown": markdown.parse}


def document_of(text: str, name: str, kind: str, keep_figures: bool = False) -> Document:
    """The document of one file's ``text``, without following includes."""
    if kind == "latex":
        texts, code = latex.clean(text, name, keep_figures)
    elif kind == "markdown":
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
    return Document.of(lines, kind, _PARSERS.get(kind))


def _latex_document(lines: list[Line], missing: dict[tuple[str, int], ContentError]) -> Document:
    """The document of LaTeX lines: macros applied, the preamble gone, headings found (each
    knowing its title as written too, so that a selector may leave user macros out)."""
    processed = macros.process(lines)
    document = Document.of(latex.body_of(processed), "latex", latex.parse, missing)
    if processed is lines or not document.headings:
        return document
    before = Document.of(lines, "latex", latex.parse)
    raw = {where(before, heading): heading.title for heading in before.headings}
    headings = tuple(
        replace(heading, raw=raw.get(where(document, heading)))
        if raw.get(where(document, heading), heading.title) != heading.title
        else heading
        for heading in document.headings
    )
    return replace(document, headings=headings)


def expanded(
    files: latex.Files, relative: str, keep_figures: bool, cache: dict[bool, latex.Expander]
) -> tuple[Document, tuple[str, ...]]:
    """The LaTeX document of ``relative`` with its includes followed, and every file read."""
    expander = cache.get(keep_figures)
    if expander is None:
        expander = cache[keep_figures] = latex.Expander(files, keep_figures)
    expansion = expander.expand(relative)
    return _latex_document(expansion.lines, expansion.missing), tuple(expansion.files)


def expanded_markdown(
    files: latex.Files, relative: str, keep_figures: bool
) -> tuple[Document, tuple[str, ...]]:
    """The Markdown document of ``relative`` with its Quarto includes followed, and every file read."""
    expansion = markdown.expand(files, relative, keep_figures)
    return Document.of(expansion.lines, "markdown", markdown.parse, expansion.missing), tuple(expansion.files)


def select(document: Document, name: str, section: str | None, anchor: str | None) -> list[Line]:
    """The lines a part takes from ``document``: all, or one section (never an empty one)."""
    if section is None and anchor is None:
        lines = list(document.lines)
        _check_missing(document, lines)
        return lines
    if document.kind not in _PARSERS:
        raise ContentError(f"{name}: sections can only be picked from LaTeX (.tex) or Markdown (.md) files")
    lines = find_section(document, name, section, anchor)
    _check_missing(document, lines)
    text, _ = sent_text(lines, document.kind)
    if _is_empty(text, document.kind):
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
    text, spans = sent_text(lines, kind)
    by_file: dict[str, list[Line]] = {}
    for line in lines:
        by_file.setdefault(line.file, []).append(line)
    if len(by_file) == 1:
        digest = sha256_text(canonical(lines, kind, keep_figures))
        sources = tuple((file, digest) for file in by_file)
    else:
        digest = sha256_text(canonical(lines, kind, keep_figures))
        sources = tuple(
            (file, sha256_text(canonical(file_lines, kind, keep_figures)))
            for file, file_lines in by_file.items()
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
