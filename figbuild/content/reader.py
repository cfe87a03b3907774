"""Reading content sources under a paper root: globs, includes, sections, the stat cache."""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild.content import latex, markdown
from figbuild.content.model import ContentError, ContentPart, Line, sha256_text, split_lines
from figbuild.content.text import Document, find_section, normalise_lines
from figbuild.digests import StatCache
from figbuild.manifest import ContentSource
from figbuild.paths import RootGuard

if TYPE_CHECKING:
    from figbuild.request import Request

#: The version of the content rules (what is dropped, how sections are found). Part of
#: every fingerprint with content, so a figbuild that changes the rules says so.
RULES_VERSION = 2

LATEX_SUFFIXES = frozenset({".tex", ".ltx", ".sty", ".cls"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".qmd", ".rmd"})

_LATEX_HEAD = re.compile(
    r"^\\(?:part|chapter|section|subsection|subsubsection|paragraph|subparagraph)\*?\s*(?:\[[^\]]*\])?\s*\{"
)
_LATEX_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")


def kind_of(name: str) -> str:
    """``latex``, ``markdown`` or ``text``, by the file's suffix."""
    suffix = Path(name).suffix.lower()
    if suffix in LATEX_SUFFIXES:
        return "latex"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    return "text"


def document_of(text: str, name: str, kind: str, keep_figures: bool = False) -> Document:
    """The document of one file's ``text``, without following includes."""
    if kind == "latex":
        cleaned = latex.clean(text, name, keep_figures)
    elif kind == "markdown":
        cleaned = markdown.clean(text, name, keep_figures)
    else:
        cleaned = list(split_lines(text))
    lines = [Line(name, number, line) for number, line in enumerate(cleaned, 1) if line is not None]
    return Document.of(lines, kind, _PARSERS.get(kind))


_PARSERS = {"latex": latex.parse, "markdown": markdown.parse}


def select(document: Document, name: str, section: str | None, anchor: str | None) -> list[Line]:
    """The lines a part takes from ``document``: all, or one section (never an empty one)."""
    if section is None and anchor is None:
        return list(document.lines)
    if document.kind not in _PARSERS:
        raise ContentError(f"{name}: sections can only be picked from LaTeX (.tex) or Markdown (.md) files")
    lines = find_section(document, name, section, anchor)
    text, _ = normalise_lines(lines, document.kind)
    if _is_empty(text, document.kind):
        wanted = f"label '{anchor}'" if anchor is not None else f"'{section}'"
        raise ContentError(
            f"{name}: section {wanted} ({lines[0].file}:{lines[0].number}) has no text once comments, "
            "figures and notes are dropped",
            hint="pick a section with prose, or set keep_figures: true if the figures are the point",
        )
    return lines


def _is_empty(text: str, kind: str) -> bool:
    if kind == "markdown":
        return not text.partition("\n")[2].strip()
    head = _LATEX_HEAD.match(text)
    if head is None:
        return not text.strip()
    close = latex.closing_brace(text, head.end())
    rest = text[close + 1 :] if close is not None else ""
    return not _LATEX_LABEL.sub("", rest).strip()


class ContentReader:
    """Reads content sources under one paper root, each file at most once per run.

    With a :class:`~figbuild.digests.StatCache`, a part none of whose files
    (the named file and everything it includes) changed is not read at all.
    """

    def __init__(self, root: Path, stats: StatCache | None = None) -> None:
        self.root = root
        self.stats = stats
        self._guard = RootGuard(root)
        self._texts: dict[str, str] = {}
        self._expanders: dict[bool, latex.Expander] = {}
        self._documents: dict[tuple[str, bool], tuple[Document, tuple[str, ...]]] = {}
        #: parts by source: figures share content files
        self._parts: dict[tuple[str, str | None, str | None, bool], list[ContentPart]] = {}

    def parts(self, source: ContentSource) -> list[ContentPart]:
        """The normalised parts ``source`` names, one per matched file, in sorted order."""
        key = (source.pattern, source.section, source.anchor, source.keep_figures)
        if key not in self._parts:
            self._parts[key] = self._read_parts(source)
        return self._parts[key]

    def _read_parts(self, source: ContentSource) -> list[ContentPart]:
        parts = []
        for path in self.expand(source.pattern):
            relative = path.relative_to(self.root).as_posix()
            key = f"{RULES_VERSION}|{relative}|{source.section}|{source.anchor}|{int(source.keep_figures)}"
            hit = self.stats.lookup_files(key, self.root) if self.stats is not None else None
            if hit is not None:
                digest, length, sources, warnings = hit
                label = _label(relative, source.section, source.anchor)
                parts.append(
                    ContentPart(
                        label,
                        relative,
                        source.section,
                        digest,
                        length,
                        sources=tuple((str(f), str(d)) for f, d in sources),
                        warnings=tuple(warnings),
                        anchor=source.anchor,
                        keep_figures=source.keep_figures,
                    )
                )
                continue
            part, files = self.part(relative, source.section, source.anchor, source.keep_figures)
            if self.stats is not None:
                self.stats.store_files(
                    key,
                    self.root,
                    files,
                    part.digest,
                    part.length,
                    [list(pair) for pair in part.sources],
                    list(part.warnings),
                )
            parts.append(part)
        return parts

    def part(
        self, relative: str, section: str | None, anchor: str | None, keep_figures: bool = False
    ) -> tuple[ContentPart, tuple[str, ...]]:
        """One file's part (a section of it, when asked), and every file read for it."""
        document, files = self._document(relative, keep_figures)
        lines = select(document, relative, section, anchor)
        text, spans = normalise_lines(lines, document.kind)
        by_file: dict[str, list[str]] = {}
        for line in lines:
            by_file.setdefault(line.file, []).append(line.text)
        sources = tuple((file, sha256_text("\n".join(texts))) for file, texts in by_file.items())
        label = _label(relative, section, anchor)
        part = ContentPart(
            label,
            relative,
            section,
            sha256_text(text),
            len(text),
            text,
            spans,
            sources,
            _warnings(label, text, document.kind),
            anchor,
            keep_figures,
        )
        return part, files

    def _document(self, relative: str, keep_figures: bool) -> tuple[Document, tuple[str, ...]]:
        key = (relative, keep_figures)
        cached = self._documents.get(key)
        if cached is None:
            kind = kind_of(relative)
            if kind == "latex":
                expander = self._expanders.get(keep_figures)
                if expander is None:
                    expander = self._expanders[keep_figures] = latex.Expander(self, keep_figures)
                expansion = expander.expand(relative)
                document = Document.of(expansion.lines, kind, latex.parse)
                cached = (document, tuple(expansion.files))
            else:
                cached = (document_of(self.read(relative), relative, kind, keep_figures), (relative,))
            self._documents[key] = cached
        return cached

    def fill(self, part: ContentPart) -> ContentPart:
        """``part`` with its text, read now; a ContentError if the file changed since."""
        if part.text is not None:
            return part
        filled, _ = self.part(part.file, part.section, part.anchor, part.keep_figures)
        if filled.digest != part.digest:
            raise ContentError(f"{part.label} changed while figbuild was working; run it again")
        return filled

    def filled(self, request: Request) -> Request:
        """``request`` with the text of every content part (for sending)."""
        return replace(request, content=tuple(self.fill(part) for part in request.content))

    def expand(self, pattern: str) -> list[Path]:
        """The files ``pattern`` (a path or glob) names inside the root, sorted."""
        if Path(pattern).is_absolute():
            raise ContentError(f"{pattern!r} is absolute; paths must be relative to the paper root")
        if glob.has_magic(pattern):
            matches = sorted(
                Path(match)
                for match in glob.glob(pattern, root_dir=self.root, recursive=True)  # noqa: PTH207 - root_dir keeps names relative
            )
            paths = [self.root / match for match in matches if (self.root / match).is_file()]
            if not paths:
                raise ContentError(f"glob {pattern!r} matches no file", hint="check the pattern")
        else:
            paths = [self.root / pattern]
        for path in paths:
            self._check_inside(path, pattern)
        return paths

    def _check_inside(self, path: Path, pattern: str) -> None:
        if not self._guard.inside(path):
            raise ContentError(
                f"{path.relative_to(self.root).as_posix()!r} (from {pattern!r}) is outside the "
                "paper root; figbuild only reads files inside it",
                hint="move the file into the paper, or point at a copy inside it",
            ) from None
        if not path.exists():
            raise ContentError(f"file {pattern!r} does not exist", hint="check the path")
        if not path.is_file():
            raise ContentError(f"{pattern!r} is not a file")

    # -- latex.Files: what include-following may read ------------------------------------

    def find(self, candidates: Sequence[str]) -> str | None:
        """The first candidate that is a file; a ContentError if it resolves outside the root."""
        for candidate in candidates:
            path = self.root / candidate
            if path.is_file():
                if not self._guard.inside(path):
                    raise ContentError(
                        f"{candidate} links to outside the paper root; figbuild only reads files inside it"
                    )
                return candidate
        return None

    def read(self, relative: str) -> str:
        """The text of ``relative`` (read once per reader)."""
        text = self._texts.get(relative)
        if text is None:
            try:
                text = (self.root / relative).read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ContentError(
                    f"{relative} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8"
                ) from None
            except OSError as exc:
                raise ContentError(f"cannot read {relative}: {exc.strerror}") from None
            self._texts[relative] = text
        return text


def _label(relative: str, section: str | None, anchor: str | None) -> str:
    if anchor is not None:
        return f"{relative}#label:{anchor}"
    return f"{relative}#{section}" if section is not None else relative


def _warnings(label: str, text: str, kind: str) -> tuple[str, ...]:
    """A part that is mostly include commands figbuild could not follow sends no prose."""
    if kind != "latex" or "\\" not in text:
        return ()
    unfollowed = latex.UNFOLLOWED.findall(text)
    if not unfollowed:
        return ()
    prose = latex.UNFOLLOWED.sub("", _LATEX_LABEL.sub("", text))
    head = _LATEX_HEAD.match(prose)
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
