"""LaTeX sources: what is prose, what is included, where the headings are.

A file is first *cleaned*: comments, ``comment`` environments, notes, figure
floats and ``\\includegraphics`` are removed, keeping the line structure so that
every remaining line still knows its number; the lines of verbatim-like
environments are marked as code and kept as written (a ``%`` there is text).
Then its ``\\input``-style commands are replaced by the cleaned lines of the
files they name, recursively, the way TeX finds them. A file that is missing is
only an error for the sections that include it (:attr:`Expansion.missing`), and
``\\IfFileExists`` decides by whether the file is there. Conditionals and macros
are then applied to the whole document (:mod:`.macros`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from figbuild.content import macros
from figbuild.content.model import ContentError, Line, split_lines
from figbuild.content.text import Heading

# \part is -1 so that a \chapter ends at the next \part, as LaTeX numbers them.
LEVELS = {
    "part": -1,
    "addpart": -1,
    "chapter": 0,
    "addchap": 0,
    "section": 1,
    "addsec": 1,
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

HEADING = re.compile(
    r"\\(part|addpart|chapter|addchap|section|addsec|subsection|subsubsection|paragraph|subparagraph)"
    r"(?![A-Za-z@])\*?\s*(?:\[(?P<short>[^\]]*)\])?\s*\{"
)
assert all("figure" in name for name in FIGURE_ENVIRONMENTS)  # clean() looks for it first
#: Environments whose lines are code: kept as written, a % in them is text.
VERBATIM = (
    "verbatim",
    "verbatim*",
    "Verbatim",
    "Verbatim*",
    "BVerbatim",
    "LVerbatim",
    "lstlisting",
    "minted",
)
_VERBATIM_BEGIN = re.compile(r"\\begin\s*\{(" + "|".join(re.escape(name) for name in VERBATIM) + r")\}")
_VERB = ("verb", "lstinline")
_IF_FILE = re.compile(r"\\(IfFileExists|InputIfFileExists)(?![A-Za-z@])\s*\{([^{}]*)\}")
_LABEL = re.compile(r"\\label\s*\{([^{}]*)\}")
_LABEL_AFTER = re.compile(r"\s*\\label\s*\{([^{}]*)\}")
# Everything before the first % that is not escaped: \\ and \% are single tokens.
_COMMENT = re.compile(r"((?:[^\\%]|\\.)*)%", re.DOTALL)
_IGNORE = re.compile(r"figbuild:\s*ignore-(start|end)")
_NOTE = re.compile(r"\\(?:todo|missingfigure|todoinline|listoftodos)(?![A-Za-z@])\*?\s*(?:\[[^\]]*\])?\s*")
#: A note and, when it has one without braces or backslashes inside, its argument (no note
#: starts inside such an argument, so the matches start where :data:`_NOTE`'s do).
_NOTE_PLAIN_ARGUMENT = re.compile(_NOTE.pattern + r"(?P<plain>\{[^\\{}]*\})?")
_GRAPHICS = re.compile(r"\\includegraphics(?![A-Za-z@])\*?\s*(?:\[[^\]]*\])?\s*\{")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_SUBFILE_CLASS = re.compile(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{(?:subfiles|standalone)\}")
_INCLUDE = re.compile(
    r"\\(?P<cmd>input|include|subfile)(?![A-Za-z@])(?:\s*\*(?=\s*\{))?\s*"  # \include* (excludeonly)
    r"(?:\{(?P<arg>[^{}]*)\}|(?P<bare>[A-Za-z0-9_./-]+))"
    r"|\\(?P<icmd>(?:sub)?(?:import|inputfrom|includefrom))\*?(?![A-Za-z@])\s*"
    r"\{(?P<dir>[^{}]*)\}\s*\{(?P<file>[^{}]*)\}"
)
#: Include commands still in the text after expansion are the ones that could not be followed.
UNFOLLOWED = re.compile(r"\\(?:input|include|subfile|subimport|import)(?![A-Za-z@])[^\n]*?(?:\}|$)")
_ENVIRONMENT_CACHE: dict[str, re.Pattern[str]] = {}
#: Where an :data:`_INCLUDE` match may start: every one of its commands begins so.
_INCLUDE_HINT = re.compile(r"\\(?:input|include|import|sub(?:file|import|inputfrom|includefrom))")
#: What :func:`closing_brace` looks at; it jumps over everything else.
_BRACE_OR_ESCAPE = re.compile(r"[\\{}]")
_PLAIN_GROUP_END = re.compile(r"[^\\{}]*\}")


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
    if "\\verb" in line or "\\lstinline" in line:
        return _strip_comment_verb(line)
    match = _COMMENT.match(line)
    if match is None:
        return line, None
    return match.group(1), line[match.end() :]


def _strip_comment_verb(line: str) -> tuple[str, str | None]:
    """:func:`strip_comment` for a line with ``\\verb|…|``: what the delimiters hold is text."""
    index, length = 0, len(line)
    while index < length:
        char = line[index]
        if char == "%":
            return line[:index], line[index + 1 :]
        if char != "\\":
            index += 1
            continue
        name = next((name for name in _VERB if line.startswith(name, index + 1)), None)
        after = index + 1 + len(name) if name is not None else index + 2
        if name is not None and line.startswith("*", after):
            after += 1
        if name is None or after >= length or line[after].isalpha() or line[after].isspace():
            index += 2
            continue
        delimiter = "}" if line[after] == "{" else line[after]
        close = line.find(delimiter, after + 1)
        index = length if close == -1 else close + 1
    return line, None


#: A cleaned file: each line's text (None: the line vanishes) and which lines are code.
Cleaned = tuple[list[str | None], frozenset[int]]


def clean(text: str, source: str, keep_figures: bool = False) -> Cleaned:
    """The lines of ``text`` with everything that is not prose removed, and the
    (0-based) lines of verbatim-like environments, kept as written.

    A line that had text and has none left is None (it vanishes, as a comment
    line does for TeX); a line that was blank stays "" (a paragraph break).
    """
    texts, code, _ = _clean(text, source, keep_figures)
    return texts, code


def _clean(text: str, source: str, keep_figures: bool) -> tuple[list[str | None], frozenset[int], str]:
    """:func:`clean`, and a text holding every line kept that is not code, one a line."""
    raw = split_lines(text)
    kept, blocks = _without_comments(raw, source, text)
    code = {index for _, lines in blocks for index in lines}
    joined = (
        "\n".join("" if index in code else line for index, line in enumerate(kept))
        if code
        else "\n".join(kept)
    )
    if "\\" in joined:
        # Each pass only when the text holds what its pattern needs.
        if "{comment}" in joined:
            joined = blank(joined, _environment_spans(joined, ("comment",)))
        if "\\iffalse" in joined or "\\iftrue" in joined:
            # \iffalse and \iftrue here, file by file; \newif flags span files (macros.py).
            joined = blank(joined, macros.conditional_spans(joined, {}))
        if "{document}" in joined:
            joined = blank(joined, _document_spans(joined))
        if not keep_figures and "figure" in joined:
            joined = blank(joined, _environment_spans(joined, FIGURE_ENVIRONMENTS))
        if "\\todo" in joined or "\\missingfigure" in joined or "\\listoftodos" in joined:
            joined = blank(joined, _note_spans(joined))
        if not keep_figures and "\\includegraphics" in joined:
            joined = blank(joined, _command_spans(joined, _GRAPHICS, braced=True))
    cleaned = joined.split("\n")
    kept_code: set[int] = set()
    for begin, lines in blocks:
        if "\\begin" in cleaned[begin]:  # the environment was not in a dropped float
            kept_code.update(lines)
            for index in lines:
                cleaned[index] = raw[index]
    pairs = zip(raw, cleaned, strict=True)
    # A line left as it was is kept (the equality test first: most lines are).
    texts = [now if now == before or now.strip() or not before.strip() else None for before, now in pairs]
    for index in kept_code:
        texts[index] = raw[index]
    return texts, frozenset(kept_code), joined


def _without_comments(
    lines: list[str], source: str, text: str
) -> tuple[list[str], list[tuple[int, list[int]]]]:
    """The lines (of ``text``) without comments and ignored regions, and each verbatim-like
    environment's begin line with its code lines (0-based)."""
    blocks: list[tuple[int, list[int]]] = []
    if _VERBATIM_BEGIN.search(text) is None and _IGNORE.search(text) is None:
        # No environment to keep as written, no ignored region: each line with a % without
        # its comment, found from the %s of the text (``lines`` are its lines).
        kept = list(lines)
        index, position = 0, 0
        at = text.find("%")
        while at != -1:
            index += text.count("\n", position, at)
            kept[index] = strip_comment(lines[index])[0]
            position = text.find("\n", at)
            if position == -1:
                break
            at = text.find("%", position)
        return kept, blocks
    out: list[str] = []
    ignoring: int | None = None
    verbatim: re.Pattern[str] | None = None
    for number, line in enumerate(lines, 1):
        if verbatim is not None and ignoring is None:
            if verbatim.search(line) is None:
                out.append(line)
                blocks[-1][1].append(number - 1)
                continue
            verbatim = None
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
        if "\\begin" in body:
            begin = _VERBATIM_BEGIN.search(body)
            if begin is not None and f"\\end{{{begin.group(1)}}}" not in body[begin.end() :]:
                verbatim = re.compile(r"\\end\s*\{" + re.escape(begin.group(1)) + r"\}")
                blocks.append((number - 1, []))
    if ignoring is not None:
        raise ContentError(
            f"{source}:{ignoring}: `figbuild: ignore-start` has no `figbuild: ignore-end` after it",
            hint="add a `% figbuild: ignore-end` line where the ignored region ends",
        )
    return out, blocks


def blank(text: str, spans: list[tuple[int, int]]) -> str:
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
    """The index of the brace closing the one just before ``start``, or None (a backslash
    escapes the character after it)."""
    simple = _PLAIN_GROUP_END.match(text, start)
    if simple is not None:  # no brace or backslash before the first closing brace
        return simple.end() - 1
    depth = 1
    search = _BRACE_OR_ESCAPE.search
    index = start
    while (match := search(text, index)) is not None:
        index = match.start()
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        else:
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


def _note_spans(text: str) -> list[tuple[int, int]]:
    """:func:`_command_spans` of :data:`_NOTE` (not ``braced``), which most notes let one
    regular expression answer: their argument has no brace or backslash inside."""
    spans = []
    for match in _NOTE_PLAIN_ARGUMENT.finditer(text):
        end = match.end()
        if match.group("plain") is None and text.startswith("{", end):
            close = closing_brace(text, end + 1)
            end = len(text) if close is None else close + 1
        spans.append((match.start(), end))
    return spans


@dataclass
class Expansion:
    """The lines of a file with its includes expanded, every file read, and the includes
    whose file is missing: an error only for a part that takes their line."""

    lines: list[Line]
    files: list[str]
    missing: dict[tuple[str, int], ContentError] = field(default_factory=dict)
    #: whether some line may define a macro or hold a conditional (False: surely none does)
    macros: bool = True


class _Read(NamedTuple):
    """A file as :class:`Expander` keeps it: its cleaned lines and code lines (see
    :func:`clean`), the (0-based, sorted) lines that may hold an include command, and
    whether it may define a macro or hold a conditional (:func:`.macros.may_define`)."""

    texts: list[str | None]
    code: frozenset[int]
    includes: tuple[int, ...]
    macros: bool


def _include_lines(text: str) -> tuple[int, ...]:
    """The (0-based) lines of ``text`` that may hold an include command (more is harmless)."""
    found: list[int] = []
    line, position = 0, 0
    for match in _INCLUDE_HINT.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        if not found or found[-1] != line:
            found.append(line)
    return tuple(found)


class _Missing(ContentError):
    """An include names no file: an error for the sections that include it, no others."""


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
        self._cleaned: dict[str, _Read] = {}
        #: files an \IfFileExists looked for and did not find: a part depends on their absence
        self.absent: list[str] = []

    def expand(self, relative: str) -> Expansion:
        out = Expansion([], [], macros=False)
        self._expand(relative, None, (), out, posixpath.dirname(relative))
        out.files.extend(name for name in self.absent if name not in out.files)
        return out

    def _lines(self, relative: str) -> _Read:
        read = self._cleaned.get(relative)
        if read is None:
            text = self.files.read(relative)
            texts, code, joined = _clean(text, relative, self.keep_figures)
            cleaned: Cleaned = (texts, code)
            if "FileExists" in text:
                cleaned, joined = self._if_file_exists(relative, cleaned)
            # Every line kept that is not code is a line of ``joined``: what no line of it
            # holds, no line of the file does.
            read = _Read(cleaned[0], cleaned[1], _include_lines(joined), macros.may_define(joined))
            self._cleaned[relative] = read
        return read

    def _if_file_exists(self, relative: str, cleaned: Cleaned) -> tuple[Cleaned, str]:
        """``\\IfFileExists{f}{yes}{no}`` and ``\\InputIfFileExists``: the branch TeX takes
        (and a text of the lines kept that are not code, as for :func:`_clean`)."""
        texts, code = cleaned
        joined = "\n".join("" if text is None or index in code else text for index, text in enumerate(texts))
        edits: list[tuple[int, int, str]] = []
        for match in _IF_FILE.finditer(joined):
            yes_open = _skip_space(joined, match.end())
            if not joined.startswith("{", yes_open):
                continue
            yes_close = closing_brace(joined, yes_open + 1)
            no_open = _skip_space(joined, yes_close + 1) if yes_close is not None else -1
            no_close = closing_brace(joined, no_open + 1) if joined.startswith("{", no_open) else None
            if yes_close is None or no_close is None:
                continue
            name = match.group(2).strip()
            candidates = [
                posixpath.normpath(posixpath.join(base, option))
                for base in _ancestors(posixpath.dirname(relative))
                for option in _names(name)
            ]
            candidates = [c for c in candidates if not (c == ".." or c.startswith("../"))]
            found = self.files.find(candidates) if candidates and "\\" not in name else None
            if found is None:
                self.absent.extend(c for c in candidates if c not in self.absent)
                edits.append((match.start(), no_open + 1, ""))
                edits.append((no_close, no_close + 1, ""))
            else:
                head = f"\\input{{{found}}}" if match.group(1) == "InputIfFileExists" else ""
                edits.append((match.start(), yes_open + 1, head))
                edits.append((yes_close, no_close + 1, ""))
        if not edits:
            return cleaned, joined
        rewritten = rewrite(joined, edits)
        lines = rewritten.split("\n")
        out = [
            text
            if text is None or index in code
            else (None if not lines[index].strip() and text.strip() else lines[index])
            for index, text in enumerate(texts)
        ]
        return (out, code), rewritten

    def _expand(
        self, relative: str, import_dir: str | None, chain: tuple[str, ...], out: Expansion, top: str
    ) -> None:
        if relative not in out.files:
            out.files.append(relative)
        chain = (*chain, relative)
        read = self._lines(relative)
        texts, code = read.texts, read.code
        out.macros = out.macros or read.macros
        start = 0
        for index in (*read.includes, len(texts)):
            # The lines up to the next one that may hold an include, as they are.
            if code:
                out.lines.extend(
                    [
                        Line(relative, number, text, number - 1 in code)
                        for number, text in enumerate(texts[start:index], start + 1)
                        if text is not None
                    ]
                )
            else:
                out.lines.extend(
                    [
                        Line(relative, number, text)
                        for number, text in enumerate(texts[start:index], start + 1)
                        if text is not None
                    ]
                )
            if index < len(texts):
                self._line(relative, index + 1, texts[index], code, import_dir, chain, out, top)
            start = index + 1

    def _line(
        self,
        relative: str,
        number: int,
        text: str | None,
        code: frozenset[int],
        import_dir: str | None,
        chain: tuple[str, ...],
        out: Expansion,
        top: str,
    ) -> None:
        """One line of ``relative`` that may hold includes: each followed in its place."""
        append, search = out.lines.append, _INCLUDE.search
        if text is None:
            return
        if code and number - 1 in code:
            append(Line(relative, number, text, True))
            return
        if "\\" not in text or search(text) is None:
            append(Line(relative, number, text))
            return
        position = 0
        for match in _INCLUDE.finditer(text):
            try:
                target = self._target(match, relative, number, import_dir, top)
            except _Missing as missing:
                out.missing.setdefault((relative, number), missing)
                continue
            if target is None:  # not followable: the command stays, as text
                continue
            before = text[position : match.start()]
            if before.strip():
                out.lines.append(Line(relative, number, before))
            path, inner_dir = target
            if path in chain:
                cycle = " -> ".join((*chain, path))
                raise ContentError(
                    f"{relative}:{number}: {match.group(0)} includes {path} again: an include cycle ({cycle})"
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
            raise _Missing(
                f"{relative}:{number}: {match.group(0)}: no such file (looked for {looked})",
                hint="fix the path, or add the file (an input made at build time: build it first, "
                "or guard it with \\IfFileExists)",
            )
        return found, inner


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\n":
        at += 1
    return at


def rewrite(text: str, edits: list[tuple[int, int, str]]) -> str:
    """``text`` with each span replaced, keeping the newlines it held (lines keep their numbers)."""
    pieces, position = [], 0
    for start, end, replacement in sorted(edits):
        start = max(start, position)
        if start > end:
            continue
        pieces.append(text[position:start])
        pieces.append(replacement + "\n" * text.count("\n", start, end))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


_BEGIN_BODY = re.compile(r"\\begin\s*\{document\}")


def body_of(lines: list[Line]) -> list[Line]:
    """A root document's lines from ``\\begin{document}`` on: the preamble (packages, macro
    definitions, already applied) is not prose. Lines of a file without a preamble, as they are."""
    for index, line in enumerate(lines):
        if line.code or "\\begin" not in line.text:
            continue
        match = _BEGIN_BODY.search(line.text)
        if match is None:
            continue
        if not any("\\documentclass" in earlier.text for earlier in lines[: index + 1] if not earlier.code):
            return lines
        rest = line.text[match.end() :]
        tail = [line._replace(text=rest)] if rest.strip() else []
        return tail + lines[index + 1 :]
    return lines


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
    for match in HEADING.finditer(joined):
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
