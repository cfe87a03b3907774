"""Markdown (and Quarto, R Markdown) sources: what is prose and where the headings are."""

from __future__ import annotations

import re

from figbuild.content.model import ContentError, split_lines
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


def clean(text: str, source: str, keep_figures: bool = False) -> list[str | None]:
    """The lines of ``text`` with what is not prose removed (None: the line vanishes).

    Removed: YAML front matter, HTML comments, ``figbuild: ignore`` regions and,
    unless ``keep_figures``, image lines and ``::: {#fig-…}`` figure divs. Code
    blocks are kept as written.
    """
    raw = split_lines(text)
    out: list[str | None] = list(raw)
    first = _front_matter_end(raw)
    for index in range(first):
        out[index] = None
    fence: str | None = None
    in_comment = False
    ignoring: int | None = None
    div_depth = 0
    for index in range(first, len(raw)):
        line = raw[index]
        if fence is not None and ignoring is None:
            match = _FENCE.match(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        body, in_comment, markers = _without_comments(line, in_comment)
        drop = ignoring is not None
        for marker in markers:
            if marker == "start" and ignoring is None:
                ignoring, drop = index + 1, True
            elif marker == "end" and ignoring is not None:
                ignoring, drop = None, True
        if drop:
            out[index] = None
            continue
        if div_depth:
            if _DIV_CLOSE.match(body):
                div_depth -= 1
            elif _DIV_OPEN.match(body):
                div_depth += 1
            out[index] = None
            continue
        if not keep_figures and (_FIGURE_DIV.match(body) or _IMAGE_LINE.match(body)):
            div_depth = 1 if _FIGURE_DIV.match(body) else 0
            out[index] = None
            continue
        fence_match = _FENCE.match(body)
        if fence_match:
            fence = fence_match.group(1)
        out[index] = None if line.strip() and not body.strip() else body
    if ignoring is not None:
        raise ContentError(
            f"{source}:{ignoring}: `figbuild: ignore-start` has no `figbuild: ignore-end` after it",
            hint="add a `<!-- figbuild: ignore-end -->` line where the ignored region ends",
        )
    return out


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
    """The ATX headings of a document's joined text (not those inside code blocks)."""
    headings = []
    fence: str | None = None
    offset = 0
    for line in joined.split("\n"):
        fence_match = _FENCE.match(line)
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
            heading = _HEADING.match(line)
            if heading:
                title = heading.group(2) or ""
                attributes = _ATTRIBUTES.search(title)
                anchor = None
                if attributes is not None:
                    found = _ID.search(attributes.group(1))
                    anchor = found.group(1) if found else None
                    title = title[: attributes.start()]
                headings.append(Heading(offset, len(heading.group(1)), " ".join(title.split()), None, anchor))
        offset += len(line) + 1
    return headings, []
