"""Markdown (and Quarto, R Markdown) sources: what is prose and where the headings are."""

from __future__ import annotations

import posixpath
import re

from figbuild.content.includes import Expansion, Files
from figbuild.content.model import ContentError, Line, split_lines
from figbuild.content.text import Heading

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_ATTRIBUTES = re.compile(r"\s*\{([^}]*)\}$")
_ID = re.compile(r"(?:^|\s)#([^\s}]+)")
_IMAGE = r"(?:!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])(?:\{[^}]*\})?|<img\b[^>]*>)"
_IMAGE_LINE = re.compile(rf"^\s*(?:{_IMAGE}\s*)+$", re.IGNORECASE)
_DIV_OPEN = re.compile(r"^ {0,3}:{3,}\s*\S")
_DIV_CLOSE = re.compile(r"^ {0,3}:{3,}\s*$")
_FIGURE_DIV = re.compile(r"^ {0,3}:{3,}\s*\{[^}]*#fig[-_:]")
_IGNORE = re.compile(r"figbuild:\s*ignore-(start|end)")
_FRONT_MATTER_END = ("---", "...")
_IMAGE_START = re.compile(r"^\s*!\[")
_IMAGE_SPAN = 12  # how many lines an image's caption may span
_CHUNK = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*\{")
_FIGURE_OPTION = re.compile(r"#\|\s*(?:label:\s*['\"]?fig-|fig-cap\s*:)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_SETEXT_TITLE = re.compile(r"^\s*(?:[-*+>|]|\d+[.)]\s|#|<|:::)")
_QUARTO_INCLUDE = re.compile(r"^\s*\{\{<\s*include\s+(['\"]?)([^'\"\s>]+)\1\s*>\}\}\s*$")


def clean(text: str, source: str, keep_figures: bool = False) -> tuple[list[str | None], frozenset[int]]:
    """The lines of ``text`` with what is not prose removed (None: the line vanishes), and
    the (0-based) lines of fenced code, kept as written.

    Removed: YAML front matter, HTML comments, ``figbuild: ignore`` regions, the
    ``#|`` options of Quarto code chunks and, unless ``keep_figures``, images
    (their captions may span lines), ``::: {#fig-…}`` figure divs and Quarto
    figure chunks (those with a ``fig-`` label or a ``fig-cap``).
    """
    raw = split_lines(text)
    out: list[str | None] = list(raw)
    code: set[int] = set()
    first = _front_matter_end(raw)
    for index in range(first):
        out[index] = None
    in_comment = False
    ignoring: int | None = None
    div_depth = 0
    index = first
    count = len(raw)
    while index < count:
        line = raw[index]
        body, in_comment, markers = _without_comments(line, in_comment)
        drop = ignoring is not None
        for marker in markers:
            if marker == "start" and ignoring is None:
                ignoring, drop = index + 1, True
            elif marker == "end" and ignoring is not None:
                ignoring, drop = None, True
        if drop:
            out[index] = None
            index += 1
            continue
        if div_depth:
            if _DIV_CLOSE.match(body):
                div_depth -= 1
            elif _DIV_OPEN.match(body):
                div_depth += 1
            out[index] = None
            index += 1
            continue
        fence_match = _FENCE.match(body)
        if fence_match:
            index = _fence(raw, out, code, index, fence_match.group(1), keep_figures)
            continue
        if not keep_figures:
            if _FIGURE_DIV.match(body) or _IMAGE_LINE.match(body):
                div_depth = 1 if _FIGURE_DIV.match(body) else 0
                out[index] = None
                index += 1
                continue
            end = _image_end(raw, index) if _IMAGE_START.match(body) else None
            if end is not None:
                for dropped in range(index, end + 1):
                    out[dropped] = None
                index = end + 1
                continue
        out[index] = None if line.strip() and not body.strip() else body
        index += 1
    if ignoring is not None:
        raise ContentError(
            f"{source}:{ignoring}: `figbuild: ignore-start` has no `figbuild: ignore-end` after it",
            hint="add a `<!-- figbuild: ignore-end -->` line where the ignored region ends",
        )
    return out, frozenset(code)


def _fence(
    raw: list[str], out: list[str | None], code: set[int], start: int, fence: str, keep_figures: bool
) -> int:
    """Mark the fenced block opening at ``start`` as code (or drop it: a figure chunk), and
    return the index after it. A Quarto chunk's ``#|`` options are not code."""
    end = len(raw) - 1  # an unclosed fence runs to the end, as for CommonMark
    for index in range(start + 1, len(raw)):
        match = _FENCE.match(raw[index])
        if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            end = index
            break
    chunk = _CHUNK.match(raw[start]) is not None
    options = []
    if chunk:
        for index in range(start + 1, end):
            if not raw[index].lstrip().startswith("#|"):
                break
            options.append(index)
    figure = chunk and any(_FIGURE_OPTION.search(raw[index]) for index in options)
    for index in range(start, end + 1):
        if (figure and not keep_figures) or index in options:
            out[index] = None
        else:
            code.add(index)
    return end + 1


def _image_end(raw: list[str], start: int) -> int | None:
    """The last line of an image whose caption spans lines from ``start``, or None."""
    for end in range(start + 1, min(start + _IMAGE_SPAN, len(raw))):
        if not raw[end].strip():
            return None
        if _IMAGE_LINE.match("\n".join(raw[start : end + 1])):
            return end
    return None


def _front_matter_end(lines: list[str]) -> int:
    """How many lines of YAML front matter open the file (0 when it has none)."""
    if not lines or lines[0].rstrip() != "---":
        return 0
    for index in range(1, len(lines)):
        if lines[index].rstrip() in _FRONT_MATTER_END:
            return index + 1
    return 0  # never closed: a thematic break, not front matter


def _without_comments(line: str, in_comment: bool) -> tuple[str, bool, list[str]]:
    """``line`` without HTML comments, whether one is still open, and the ignore markers in them."""
    if not in_comment and "<!--" not in line:
        return line, False, []
    kept: list[str] = []
    markers: list[str] = []
    position = 0
    while position <= len(line):
        if in_comment:
            end = line.find("-->", position)
            comment = line[position:] if end == -1 else line[position:end]
            markers.extend(match.group(1) for match in _IGNORE.finditer(comment))
            if end == -1:
                break
            in_comment, position = False, end + 3
        else:
            start = line.find("<!--", position)
            if start == -1:
                kept.append(line[position:])
                break
            kept.append(line[position:start])
            in_comment, position = True, start + 4
    return "".join(kept), in_comment, markers


def parse(joined: str) -> tuple[list[Heading], list[tuple[int, str]]]:
    """The ATX and setext headings of a document's joined text (not those in code blocks)."""
    headings = []
    fence: str | None = None
    offset = 0
    previous: tuple[int, str] | None = None  # the last line, if it could be a setext title
    blank_before = True
    for line in joined.split("\n"):
        fence_match = _FENCE.match(line)
        candidate: tuple[int, str] | None = None
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
        elif fence_match:
            fence = fence_match.group(1)
        elif (heading := _HEADING.match(line)) is not None:
            title, anchor = _title(heading.group(2) or "")
            headings.append(Heading(offset, len(heading.group(1)), title, None, anchor))
        elif previous is not None and _SETEXT.match(line):
            title, anchor = _title(previous[1])
            headings.append(Heading(previous[0], 1 if line.strip()[0] == "=" else 2, title, None, anchor))
        elif (
            line.strip()
            and blank_before
            and not line.startswith(("    ", "\t"))
            and not _NOT_SETEXT_TITLE.match(line)
        ):
            candidate = (offset, line)
        blank_before = not line.strip()
        previous = candidate
        offset += len(line) + 1
    return headings, []


def _title(text: str) -> tuple[str, str | None]:
    """A heading's title without its ``{#id .class}`` attributes, and the id."""
    attributes = _ATTRIBUTES.search(text)
    anchor = None
    if attributes is not None:
        found = _ID.search(attributes.group(1))
        anchor = found.group(1) if found else None
        text = text[: attributes.start()]
    return " ".join(text.split()), anchor


def expand(files: Files, relative: str, keep_figures: bool) -> Expansion:
    """The lines of ``relative`` with Quarto's ``{{< include f >}}`` followed, recursively
    (a path starting with ``/`` is from the paper root, others from the including file)."""
    out = Expansion([], [])
    _expand(files, relative, (), out, keep_figures)
    return out


def _expand(files: Files, relative: str, chain: tuple[str, ...], out: Expansion, keep_figures: bool) -> None:
    if relative not in out.files:
        out.files.append(relative)
    chain = (*chain, relative)
    texts, code = clean(files.read(relative), relative, keep_figures)
    for number, text in enumerate(texts, 1):
        if text is None:
            continue
        is_code = number - 1 in code
        include = None if is_code or "{{<" not in text else _QUARTO_INCLUDE.match(text)
        if include is None:
            out.lines.append(Line(relative, number, text, is_code))
            continue
        name = include.group(2)
        target = posixpath.normpath(
            name[1:] if name.startswith("/") else posixpath.join(posixpath.dirname(relative), name)
        )
        if target == ".." or target.startswith("../") or posixpath.isabs(target):
            raise ContentError(
                f"{relative}:{number}: {text.strip()} names {name}, outside the paper root; "
                "figbuild only reads files inside it",
                hint="move the file into the paper",
            )
        if files.find([target]) is None:
            out.missing.setdefault(
                (relative, number),
                ContentError(
                    f"{relative}:{number}: {text.strip()}: no such file (looked for {target})",
                    hint="fix the path, or add the file",
                ),
            )
            out.lines.append(Line(relative, number, text))
            continue
        if target in chain:
            cycle = " -> ".join((*chain, target))
            raise ContentError(
                f"{relative}:{number}: {text.strip()} includes {target} again: an include cycle ({cycle})"
            )
        _expand(files, target, chain, out, keep_figures)
