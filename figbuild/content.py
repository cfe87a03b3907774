"""Paper content: expand sources, pick sections, normalise the text the API receives.

Normalising is what makes a comment-only or spacing-only edit leave a figure
fresh: the digest is taken of exactly the text that would be sent.
"""

from __future__ import annotations

import glob
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild import fastpath
from figbuild.digests import StatCache
from figbuild.manifest import ContentSource
from figbuild.paths import RootGuard

if TYPE_CHECKING:
    from figbuild.request import Request

LATEX_SUFFIXES = frozenset({".tex", ".ltx", ".sty", ".cls"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".qmd", ".rmd"})

# \part is -1 so that a \chapter ends at the next \part, as LaTeX numbers them.
_LATEX_LEVELS = {
    "part": -1,
    "chapter": 0,
    "section": 1,
    "subsection": 2,
    "subsubsection": 3,
    "paragraph": 4,
    "subparagraph": 5,
}
_LATEX_HEADING = re.compile(
    r"\\(part|chapter|section|subsection|subsubsection|paragraph|subparagraph)\*?\s*(?:\[[^\]]*\])?\s*\{"
)
_LATEX_END = re.compile(r"\\end\{document\}")
_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MD_ATTRIBUTES = re.compile(r"\s*\{[^}]*\}$")
# Everything before the first % that is not escaped: \\ and \% are single tokens.
_LATEX_COMMENT = re.compile(r"((?:[^\\%]|\\.)*)%", re.DOTALL)
_SPACES = re.compile(r"[ \t\f\v]+")


class ContentError(Exception):
    """A content source cannot be read; the message says why, for a manifest Problem."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class ContentPart:
    """One piece of normalised paper content and where it came from.

    ``text`` is None when the part's digest came from the stat cache: a status
    needs only digests; :meth:`ContentReader.fill` reads the text for sending.
    """

    label: str  # e.g. "sections/method.tex" or "paper.md#Training"
    file: str  # the file it was read from, relative to the paper root
    section: str | None
    digest: str
    length: int
    text: str | None = None

    @classmethod
    def of(cls, file: str, section_title: str | None, text: str) -> ContentPart:
        label = f"{file}#{section_title}" if section_title is not None else file
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(label, file, section_title, digest, len(text), text)


class ContentReader:
    """Reads content sources under one paper root, each file at most once per run.

    With a :class:`~figbuild.digests.StatCache`, unchanged files are not read at all.
    """

    def __init__(self, root: Path, stats: StatCache | None = None) -> None:
        self.root = root
        self.stats = stats
        self._guard = RootGuard(root)
        self._texts: dict[Path, str] = {}
        #: parts by (pattern, section): figures share content files
        self._parts: dict[tuple[str, str | None], list[ContentPart]] = {}

    def parts(self, source: ContentSource) -> list[ContentPart]:
        """The normalised parts ``source`` names, one per matched file, in sorted order."""
        key = (source.pattern, source.section)
        if key not in self._parts:
            self._parts[key] = self._read_parts(source)
        return self._parts[key]

    def _read_parts(self, source: ContentSource) -> list[ContentPart]:
        parts = []
        for path in self.expand(source.pattern):
            relative = path.relative_to(self.root).as_posix()
            key = relative if source.section is None else f"{relative}#{source.section}"
            st = path.stat()
            fastpath.note_input(path)
            hit = self.stats.lookup(key, st) if self.stats is not None else None
            if hit is not None:
                digest, length = hit
                parts.append(ContentPart(key, relative, source.section, digest, length))
                continue
            part = ContentPart.of(relative, source.section, self._text(path, source.section, relative))
            if self.stats is not None:
                self.stats.store(key, st, part.digest, part.length)
            parts.append(part)
        return parts

    def fill(self, part: ContentPart) -> ContentPart:
        """``part`` with its text, read now; a ContentError if the file changed since."""
        if part.text is not None:
            return part
        filled = ContentPart.of(
            part.file, part.section, self._text(self.root / part.file, part.section, part.file)
        )
        if filled.digest != part.digest:
            raise ContentError(f"{part.label} changed while figbuild was working; run it again")
        return filled

    def filled(self, request: Request) -> Request:
        """``request`` with the text of every content part (for sending)."""
        return replace(request, content=tuple(self.fill(part) for part in request.content))

    def _text(self, path: Path, section_title: str | None, relative: str) -> str:
        text = self._normalised(path)
        return text if section_title is None else section(text, _kind(path), section_title, relative)

    def expand(self, pattern: str) -> list[Path]:
        """The files ``pattern`` (a path or glob) names inside the root, sorted."""
        if Path(pattern).is_absolute():
            raise ContentError(f"{pattern!r} is absolute; paths must be relative to the paper root")
        if glob.has_magic(pattern):
            fastpath.note_glob(self.root, pattern)
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

    def _normalised(self, path: Path) -> str:
        cached = self._texts.get(path)
        if cached is None:
            fastpath.note_input(path)
            try:
                raw = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ContentError(
                    f"{path.relative_to(self.root).as_posix()} is not UTF-8 text (byte {exc.start})",
                    hint="save the file as UTF-8",
                ) from None
            except OSError as exc:
                raise ContentError(f"cannot read {path.relative_to(self.root)}: {exc.strerror}") from None
            cached = self._texts[path] = normalise(raw, _kind(path))
        return cached


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in LATEX_SUFFIXES:
        return "latex"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    return "text"


def strip_latex_comment(line: str) -> tuple[str, bool]:
    """The line without its ``%`` comment (``\\%`` is kept), and whether it had one."""
    if "%" not in line:
        return line, False
    match = _LATEX_COMMENT.match(line)
    if match is None:
        return line, False
    return match.group(1), True


def normalise(text: str, kind: str) -> str:
    """The text as sent to the API.

    LaTeX: comments dropped (a comment-only line disappears entirely) and each
    paragraph joined onto one line, since TeX treats a newline as a space.
    Markdown and plain text keep their lines (they can carry meaning) with runs
    of blanks collapsed. Both: trailing spaces and repeated blank lines go.
    """
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw
        if kind == "latex":
            line, had_comment = strip_latex_comment(raw)
            if had_comment and not line.strip():
                continue
        indent = len(line) - len(line.lstrip(" \t")) if kind != "latex" else 0
        body = _SPACES.sub(" ", line.strip())
        lines.append(" " * indent + body if body else "")
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    joiner = " " if kind == "latex" else "\n"
    return "\n\n".join(joiner.join(paragraph) for paragraph in paragraphs if paragraph)


def section(text: str, kind: str, title: str, label: str) -> str:
    """The part of normalised ``text`` under heading ``title``, up to the next heading
    of the same or a higher level."""
    if kind == "latex":
        headings = _latex_headings(text)
    elif kind == "markdown":
        headings = _markdown_headings(text)
    else:
        raise ContentError(f"{label}: sections can only be picked from LaTeX (.tex) or Markdown (.md) files")
    wanted = " ".join(title.split())
    for index, (start, level, name) in enumerate(headings):
        if name == wanted:
            end = next((s for s, lvl, _ in headings[index + 1 :] if lvl <= level), len(text))
            if kind == "latex":
                document_end = _LATEX_END.search(text, start)
                if document_end and document_end.start() < end:
                    end = document_end.start()
            return text[start:end].strip()
    names = ", ".join(repr(name) for _, _, name in headings) or "none"
    raise ContentError(f"{label}: no section titled {title!r}", hint=f"sections there: {names}")


def _latex_headings(text: str) -> list[tuple[int, int, str]]:
    headings = []
    for match in _LATEX_HEADING.finditer(text):
        title = _balanced(text, match.end())
        if title is not None:
            headings.append((match.start(), _LATEX_LEVELS[match.group(1)], " ".join(title.split())))
    return headings


def _balanced(text: str, start: int) -> str | None:
    """The text from ``start`` to the brace closing the one just before it."""
    depth = 1
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
        index += 1
    return None


def _markdown_headings(text: str) -> list[tuple[int, int, str]]:
    headings = []
    fence: str | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        fence_match = _MD_FENCE.match(line)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
        elif fence_match:
            fence = fence_match.group(1)
        else:
            heading = _MD_HEADING.match(line.rstrip("\n"))
            if heading:
                name = _MD_ATTRIBUTES.sub("", heading.group(2) or "").strip()
                headings.append((offset, len(heading.group(1)), " ".join(name.split())))
        offset += len(line)
    return headings
