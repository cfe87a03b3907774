"""The data content reading passes around: lines with their origin, spans, parts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import NamedTuple

from figbuild.records import frozen

#: The version of the content rules (what is dropped, how sections are found, the canonical
#: form digests are taken over). Part of every fingerprint with content, so a figbuild that
#: changes the rules says so.
RULES_VERSION = 3
#: The rules before this version, whose content digest was the sha256 of the text sent: a
#: figure made under them whose text sent is the same under these rules is still fresh.
PREVIOUS_RULES = "2"

LATEX_SUFFIXES = frozenset({".tex", ".ltx", ".sty", ".cls"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".qmd", ".rmd"})


def kind_of(name: str) -> str:
    """``latex``, ``markdown`` or ``text``, by the file's suffix."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in LATEX_SUFFIXES:
        return "latex"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    return "text"


def label_of(relative: str, section: str | None, anchor: str | None) -> str:
    """How a part is named in fingerprints and reasons: ``file``, ``file#Title``, ``file#label:x``."""
    if anchor is not None:
        return f"{relative}#label:{anchor}"
    return f"{relative}#{section}" if section is not None else relative


class ContentError(Exception):
    """A content source cannot be read; the message says why, for a manifest Problem."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Line(NamedTuple):
    """One line of a source after the rules, and where it came from (1-based line).

    ``code`` marks a line of a verbatim-like environment or a fenced block: later rules
    (macros, includes, headings) leave it alone, and it keeps its line in what is sent.
    """

    file: str
    number: int
    text: str
    code: bool = False


class Span(NamedTuple):
    """Lines ``first``..``last`` of ``file`` that a part's text came from."""

    file: str
    first: int
    last: int

    def __str__(self) -> str:
        lines = f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.file}:{lines}"


def split_lines(text: str) -> list[str]:
    """The lines of ``text``; a final newline ends the last line, it does not start another."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def spans_of(lines: Iterable[Line]) -> tuple[Span, ...]:
    """The runs of consecutive lines of one file among ``lines``."""
    spans: list[Span] = []
    for line in lines:
        last = spans[-1] if spans else None
        if last is not None and last.file == line.file and last.last <= line.number:
            spans[-1] = Span(last.file, last.first, line.number)
        else:
            spans.append(Span(line.file, line.number, line.number))
    return tuple(spans)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@frozen
class ContentPart:
    """One piece of normalised paper content and where it came from.

    ``text`` (and ``spans``) are None/empty when the part came from the stat
    cache: a status needs only digests; :meth:`ContentReader.fill` reads the
    text for sending. ``sources`` is the digest of what each file read (the
    file itself and every file it includes) contributed, so a reason can say
    which included file changed.
    """

    label: str  # e.g. "sections/method.tex" or "paper.md#Training"
    file: str  # the file named in the manifest, relative to the paper root
    section: str | None
    digest: str
    length: int
    text: str | None = None
    spans: tuple[Span, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    anchor: str | None = None  # the manifest's `label:` (a LaTeX \label or a Markdown #id)
    keep_figures: bool = False
    #: The sha256 of ``text`` itself (``digest`` is taken over its canonical form).
    sent_digest: str = ""

    @classmethod
    def of(cls, file: str, section_title: str | None, text: str) -> ContentPart:
        from figbuild.content.canonical import canonical_of_text

        label = f"{file}#{section_title}" if section_title is not None else file
        digest = sha256_text(canonical_of_text(text, kind_of(file)))
        return cls(label, file, section_title, digest, len(text), text, sent_digest=sha256_text(text))

    @property
    def files(self) -> tuple[str, ...]:
        """Every file this part was read from: the named one first, then its includes."""
        named = (self.file,)
        return named + tuple(file for file, _ in self.sources if file != self.file)
