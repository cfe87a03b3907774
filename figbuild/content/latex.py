"""LaTeX sources: what is prose, where the headings are.

A file is first *cleaned*: comments, ``comment`` environments, notes, figure
floats and ``\\includegraphics`` are removed, keeping the line structure so that
every remaining line still knows its number; the lines of verbatim-like
environments are marked as code and kept as written (a ``%`` there is text).
Then its ``\\input``-style commands are replaced by the cleaned lines of the
files they name (:mod:`.includes`), and conditionals and macros are applied to
the whole document (:mod:`.macros`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
#: Include commands still in the text after expansion are the ones that could not be followed.
UNFOLLOWED = re.compile(r"\\(?:input|include|subfile|subimport|import)(?![A-Za-z@])[^\n]*?(?:\}|$)")
_ENVIRONMENT_CACHE: dict[str, re.Pattern[str]] = {}
#: What :func:`closing_brace` looks at; it jumps over everything else.
_BRACE_OR_ESCAPE = re.compile(r"[\\{}]")
_PLAIN_GROUP_END = re.compile(r"[^\\{}]*\}")


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
    texts, code, _ = clean_joined(text, source, keep_figures)
    return texts, code


def clean_joined(text: str, source: str, keep_figures: bool) -> tuple[list[str | None], frozenset[int], str]:
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
