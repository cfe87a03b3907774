"""The data content reading passes around: lines with their origin, spans, parts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import NamedTuple

#: The version of the content rules (what is dropped, how sections are found). Part of
#: every fingerprint with content, so a figbuild that changes the rules says so.
RULES_VERSION = 2

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
    """One line of a source after the rules, and where it came from (1-based line)."""

    file: str
    number: int
    text: str


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


@dataclass(frozen=True)
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

    @classmethod
    def of(cls, file: str, section_title: str | None, text: str) -> ContentPart:
        label = f"{file}#{section_title}" if section_title is not None else file
        return cls(label, file, section_title, sha256_text(text), len(text), text)

    @property
    def files(self) -> tuple[str, ...]:
        """Every file this part was read from: the named one first, then its includes."""
        named = (self.file,)
        return named + tuple(file for file, _ in self.sources if file != self.file)
