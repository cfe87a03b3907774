"""LaTeX sources: what is prose, what is included, where the headings are.

A file is first *cleaned*: comments, ``comment`` environments, ``\\iffalse``
blocks, notes, figure floats and ``\\includegraphics`` are removed, keeping the
line structure so that every remaining line still knows its number. Then its
``\\input``-style commands are replaced by the cleaned lines of the files they
name, recursively, the way TeX finds them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from figbuild.content.model import ContentError, Line, split_lines
from figbuild.content.text import Heading

# \part is -1 so that a \chapter ends at the next \part, as LaTeX numbers them.
LEVELS = {
    "part": -1,
    "chapter": 0,
    "section": 1,
    "subsection": 2,
    "subsubsection": 3,
    "paragraph": 4,
    "subparagraph": 5,
}
#: Floats dropped unless a figure asks to keep them (tables stay: they are content).
FIGURE_ENVIRONMENTS = (
    "figure",
    "figure*",
    "wrapfigure",
    "subfigure",
    "subfigure*",
    "SCfigure",
    "SCfigure*",
    "sidewaysfigure",
    "sidewaysfigure*",
    "floatingfigure",
    "marginfigure",
    "minipagefigure",
)

_HEADING = re.compile(
    r"\\(part|chapter|section|subsection|subsubsection|paragraph|subparagraph)\*?\s*"
    r"(?:\[(?P<short>[^\]]*)\])?\s*\{"
)
_LABEL = re.compile(r"\\label\s*\{([^{}]*)\}")
_LABEL_AFTER = re.compile(r"\s*\\label\s*\{([^{}]*)\}")
# Everything before the first % that is not escaped: \\ and \% are single tokens.
_COMMENT = re.compile(r"((?:[^\\%]|\\.)*)%", re.DOTALL)
_IGNORE = re.compile(r"figbuild:\s*ignore-(start|end)")
_CONDITIONAL = re.compile(r"\\(if[A-Za-z@]*|else|fi)(?![A-Za-z@])(\s*\{)?")
_NOTE = re.compile(r"\\(?:todo|missingfigure|todoinline|listoftodos)(?![A-Za-z@])\*?\s*(?:\[[^\]]*\])?\s*")
_GRAPHICS = re.compile(r"\\includegraphics(?![A-Za-z@])\*?\s*(?:\[[^\]]*\])?\s*\{")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_SUBFILE_CLASS = re.compile(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{(?:subfiles|standalone)\}")
_INCLUDE = re.compile(
    r"\\(?P<cmd>input|include|subfile)(?![A-Za-z@])\s*(?:\{(?P<arg>[^{}]*)\}|(?P<bare>[A-Za-z0-9_./-]+))"
    r"|\\(?P<icmd>(?:sub)?(?:import|inputfrom|includefrom))\*?(?![A-Za-z@])\s*"
    r"\{(?P<dir>[^{}]*)\}\s*\{(?P<file>[^{}]*)\}"
)
#: Include commands still in the text after expansion are the ones that could not be followed.
UNFOLLOWED = re.compile(r"\\(?:input|include|subfile|subimport|import)(?![A-Za-z@])[^\n]*?(?:\}|$)")
_ENVIRONMENT_CACHE: dict[str, re.Pattern[str]] = {}


class Files(Protocol):
    """The paper's files as include-following sees them (paths relative to the root)."""

    def find(self, candidates: Sequence[str]) -> str | None:
        """The first candidate that is a file inside the root, or None."""

    def read(self, relative: str) -> str:
        """The text of a file found by :meth:`find`."""


def strip_comment(line: str) -> tuple[str, str | None]:
    """The line without its ``%`` comment (``\\%`` is kept), and the comment's text."""
    if "%" not in line:
        return line, None
    match = _COMMENT.match(line)
    if match is None:
        return line, None
    return match.group(1), line[match.end() :]


def clean(text: str, source: str, keep_figures: bool = False) -> list[str | None]:
    """The lines of ``text`` with everything that is not prose removed.

    A line that had text and has none left is None (it vanishes, as a comment
    line does for TeX); a line that was blank stays "" (a paragraph break).
    """
    raw = split_lines(text)
    kept = _without_comments(raw, source)
    joined = "\n".join(kept)
    if "\\" in joined:
        joined = _blank(joined, _environment_spans(joined, ("comment",)))
        joined = _blank(joined, _false_spans(joined))
        joined = _blank(joined, _document_spans(joined))
        if not keep_figures:
            joined = _blank(joined, _environment_spans(joined, FIGURE_ENVIRONMENTS))
        joined = _blank(joined, _command_spans(joined, _NOTE, braced=False))
        if not keep_figures:
            joined = _blank(joined, _command_spans(joined, _GRAPHICS, braced=True))
    cleaned = joined.split("\n")
    pairs = zip(raw, cleaned, strict=True)
    return [None if not now.strip() and before.strip() else now for before, now in pairs]


def _without_comments(lines: list[str], source: str) -> list[str]:
    out: list[str] = []
    ignoring: int | None = None
    for number, line in enumerate(lines, 1):
        body, comment = strip_comment(line)
        marker = _IGNORE.search(comment) if comment is not None else None
        if marker is not None and marker.group(1) == "start" and ignoring is None:
            ignoring = number
        if ignoring is not None:
            out.append("")
            if marker is not None and marker.group(1) == "end":
                ignoring = None
            continue
        out.append(body)
    if ignoring is not None:
        raise ContentError(
            f"{source}:{ignoring}: `figbuild: ignore-start` has no `figbuild: ignore-end` after it",
            hint="add a `% figbuild: ignore-end` line where the ignored region ends",
        )
    return out


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span removed, except its newlines."""
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in sorted(spans):
        if start < position:
            start = position
        if start >= end:
            continue
        pieces.append(text[position:start])
        pieces.append("\n" * text.count("\n", start, end))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def closing_brace(text: str, start: int) -> int | None:
    """The index of the brace closing the one just before ``start``, or None."""
    depth = 1
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def _environment_spans(text: str, names: Sequence[str]) -> list[tuple[int, int]]:
    key = "begin:" + "|".join(names)
    begin = _ENVIRONMENT_CACHE.get(key)
    if begin is None:
        alternatives = "|".join(re.escape(name) for name in names)
        begin = _ENVIRONMENT_CACHE[key] = re.compile(r"\\begin\s*\{(" + alternatives + r")\}")
    spans = []
    position = 0
    while (match := begin.search(text, position)) is not None:
        name = match.group(1)
        pattern = _ENVIRONMENT_CACHE.get(name)
        if pattern is None:
            pattern = _ENVIRONMENT_CACHE[name] = re.compile(r"\\(begin|end)\s*\{" + re.escape(name) + r"\}")
        depth, end = 1, len(text)  # an unclosed environment runs to the end, as for TeX
        for token in pattern.finditer(text, match.end()):
            depth += 1 if token.group(1) == "begin" else -1
            if depth == 0:
                end = token.end()
                break
        spans.append((match.start(), end))
        position = end
    return spans


def _false_spans(text: str) -> list[tuple[int, int]]:
    """``\\iffalse`` … ``\\fi`` (the ``\\else`` branch, if any, stays)."""
    if "\\iffalse" not in text:
        return []
    spans = []
    position = 0
    while (start := text.find("\\iffalse", position)) != -1:
        depth, end, else_at = 1, len(text), None
        fi_span: tuple[int, int] | None = None
        for token in _CONDITIONAL.finditer(text, start + len("\\iffalse")):
            name = token.group(1)
            if name.startswith("if"):
                # \iff is a symbol and \ifthenelse{…} a command; neither has a \fi.
                if name != "iff" and token.group(2) is None:
                    depth += 1
            elif name == "else" and depth == 1 and else_at is None:
                else_at = token.end()
            elif name == "fi":
                depth -= 1
                if depth == 0:
                    end = token.end()
                    fi_span = (token.start(), token.end())
                    break
        if else_at is not None and fi_span is not None:
            spans.extend([(start, else_at), fi_span])
        else:
            spans.append((start, end))
        position = max(end, start + 1)
    return spans


def _document_spans(text: str) -> list[tuple[int, int]]:
    """A subfile's preamble, and everything from ``\\end{document}`` on (TeX never reads it)."""
    spans = []
    documentclass = _SUBFILE_CLASS.search(text)
    if documentclass is not None:
        begin = _BEGIN_DOCUMENT.search(text, documentclass.end())
        if begin is not None:
            spans.append((0, begin.end()))
    end = _END_DOCUMENT.search(text)
    if end is not None:
        spans.append((end.start(), len(text)))
    return spans


def _command_spans(text: str, command: re.Pattern[str], braced: bool) -> list[tuple[int, int]]:
    """Each match of ``command`` with its braced argument (when it has one)."""
    spans = []
    for match in command.finditer(text):
        end = match.end()
        if braced or (end < len(text) and text[end] == "{"):
            close = closing_brace(text, end if braced else end + 1)
            end = len(text) if close is None else close + 1
        spans.append((match.start(), end))
    return spans


@dataclass
class Expansion:
    """The lines of a file with its includes expanded, and every file read."""

    lines: list[Line]
    files: list[str]


class Expander:
    """Expands ``\\input``, ``\\include``, ``\\subfile``, ``\\import`` and ``\\subimport``.

    Paths are resolved as TeX compiling the named file in its directory does:
    relative to that directory (TeX's working directory), or to the directory of
    the enclosing ``\\import``. A section file named on its own is compiled from a
    main file further up, so the directories above it, up to the paper root, are
    tried next, then the including file's own directory. ``.tex`` is implied.
    """

    def __init__(self, files: Files, keep_figures: bool) -> None:
        self.files = files
        self.keep_figures = keep_figures
        self._cleaned: dict[str, list[str | None]] = {}

    def expand(self, relative: str) -> Expansion:
        out = Expansion([], [])
        self._expand(relative, None, (), out, posixpath.dirname(relative))
        return out

    def _lines(self, relative: str) -> list[str | None]:
        cleaned = self._cleaned.get(relative)
        if cleaned is None:
            cleaned = self._cleaned[relative] = clean(self.files.read(relative), relative, self.keep_figures)
        return cleaned

    def _expand(
        self, relative: str, import_dir: str | None, chain: tuple[str, ...], out: Expansion, top: str
    ) -> None:
        if relative not in out.files:
            out.files.append(relative)
        chain = (*chain, relative)
        for number, text in enumerate(self._lines(relative), 1):
            if text is None:
                continue
            if "\\" not in text or _INCLUDE.search(text) is None:
                out.lines.append(Line(relative, number, text))
                continue
            position = 0
            for match in _INCLUDE.finditer(text):
                target = self._target(match, relative, number, import_dir, top)
                if target is None:  # not followable: the command stays, as text
                    continue
                before = text[position : match.start()]
                if before.strip():
                    out.lines.append(Line(relative, number, before))
                path, inner_dir = target
                if path in chain:
                    cycle = " -> ".join((*chain, path))
                    raise ContentError(
                        f"{relative}:{number}: {match.group(0)} includes {path} again: "
                        f"an include cycle ({cycle})"
                    )
                self._expand(path, inner_dir, chain, out, top)
                position = match.end()
            after = text[position:]
            if position == 0 or after.strip():
                out.lines.append(Line(relative, number, after))

    def _target(
        self, match: re.Match[str], relative: str, number: int, import_dir: str | None, top: str
    ) -> tuple[str, str | None] | None:
        """The file an include names and the import directory inside it; None when the
        argument is built by macros, which figbuild cannot evaluate."""
        here = posixpath.dirname(relative)
        if match.group("cmd") is not None:
            name = match.group("arg") if match.group("arg") is not None else match.group("bare")
            bases = [import_dir] if import_dir is not None else []
            bases += [*_ancestors(top), here]
            inner = import_dir
        else:
            name = match.group("file")
            directory = match.group("dir").strip()
            if "\\" in directory or "#" in directory:
                return None
            absolute = match.group("icmd") in ("import", "inputfrom", "includefrom")
            base = top if absolute else (import_dir or here)
            inner = posixpath.normpath(posixpath.join(base, directory))
            bases = [inner]
        name = name.strip()
        if not name or "\\" in name or "#" in name:
            return None
        candidates = []
        for base in dict.fromkeys(bases):
            for option in _names(name):
                candidates.append(_inside(posixpath.join(base, option), relative, number, match.group(0)))
        found = self.files.find(candidates)
        if found is None:
            looked = ", ".join(candidates)
            raise ContentError(
                f"{relative}:{number}: {match.group(0)}: no such file (looked for {looked})",
                hint="fix the path, or add the file",
            )
        return found, inner


def _ancestors(directory: str) -> list[str]:
    """``directory`` and each directory above it, up to the paper root ("")."""
    out = [directory]
    while directory:
        directory = posixpath.dirname(directory)
        out.append(directory)
    return out


def _names(name: str) -> list[str]:
    return [name] if name.endswith(".tex") else [f"{name}.tex", name]


def _inside(path: str, relative: str, number: int, command: str) -> str:
    normal = posixpath.normpath(path)
    if posixpath.isabs(normal) or normal == ".." or normal.startswith("../"):
        raise ContentError(
            f"{relative}:{number}: {command} names {path}, outside the paper root; "
            "figbuild only reads files inside it",
            hint="move the file into the paper",
        )
    return normal


def parse(joined: str) -> tuple[list[Heading], list[tuple[int, str]]]:
    """The headings and ``\\label`` commands of a document's joined text."""
    headings = []
    for match in _HEADING.finditer(joined):
        close = closing_brace(joined, match.end())
        if close is None:
            continue
        label = _LABEL_AFTER.match(joined, close + 1)
        headings.append(
            Heading(
                start=match.start(),
                level=LEVELS[match.group(1)],
                title=" ".join(joined[match.end() : close].split()),
                short=match.group("short"),
                anchor=label.group(1).strip() if label else None,
            )
        )
    labels = [(m.start(), m.group(1).strip()) for m in _LABEL.finditer(joined)] if "\\label" in joined else []
    return headings, labels
