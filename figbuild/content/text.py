"""Turning a document's lines into the text sent, and picking a section out of them.

Both languages share this: the LaTeX and Markdown modules only say which lines
are prose and where the headings are.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from itertools import accumulate, repeat
from operator import add, itemgetter

from figbuild.content.model import ContentError, Line, Span
from figbuild.records import frozen

_IS_CODE = itemgetter(3)  # Line.code
_TEXT = itemgetter(2)  # Line.text
_ESCAPED = re.compile(r"\\([^A-Za-z@])")
_MACRO = re.compile(r"\\[A-Za-z@]+\*?")
_DECORATION = re.compile(r"[{}$*_`]")


@frozen
class Heading:
    """A heading in a document: ``start`` is its offset in the document's joined text."""

    start: int
    level: int
    title: str  # as written
    short: str | None = None  # LaTeX's \section[short]{...}
    anchor: str | None = None  # a \label right after it, or a Markdown {#id}
    #: the title as written, before user macros were expanded (None: the same)
    raw: str | None = None


@frozen
class Document:
    """A source's lines after the rules, their joined text, and its headings."""

    lines: tuple[Line, ...]
    kind: str
    joined: str
    starts: tuple[int, ...]  # the offset in ``joined`` at which each line starts
    headings: tuple[Heading, ...] = ()
    labels: tuple[tuple[int, str], ...] = ()  # (offset, \label name) anywhere in the text
    #: includes that name no file, by (file, line): an error for a part that takes that line
    missing: Mapping[tuple[str, int], ContentError] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        lines: Sequence[Line],
        kind: str,
        parse: Callable[[str], tuple[list[Heading], list[tuple[int, str]]]] | None = None,
        missing: Mapping[tuple[str, int], ContentError] | None = None,
    ) -> Document:
        """The document of ``lines``; ``parse`` finds headings and labels in the joined text
        (code lines hidden from it: a heading in a listing is no heading)."""
        texts = list(map(_TEXT, lines))
        # each line's offset: the lengths before it, and a newline after each
        starts = list(accumulate(map(add, map(len, texts), repeat(1)), initial=0))
        starts.pop()
        code = any(map(_IS_CODE, lines))
        joined = "\n".join(texts)
        parsed = (
            "\n".join(" " * len(line.text) if line.code else line.text for line in lines) if code else joined
        )
        headings, labels = parse(parsed) if parse is not None else ([], [])
        return cls(tuple(lines), kind, joined, tuple(starts), tuple(headings), tuple(labels), missing or {})


def title_key(title: str) -> str:
    """A title with macros, braces, emphasis, case and spacing ignored."""
    text = _ESCAPED.sub(r"\1", title)
    text = _MACRO.sub(" ", text).replace("~", " ")
    return " ".join(_DECORATION.sub("", text).casefold().split())


def normalise_lines(lines: Sequence[Line], kind: str) -> tuple[str, tuple[Span, ...]]:
    """The text as sent, and the spans of the lines it came from (see :mod:`.canonical`)."""
    from figbuild.content.canonical import sent_text

    return sent_text(lines, kind)


def lines_between(document: Document, start: int, end: int) -> list[Line]:
    """The document's lines cut to offsets ``start``..``end`` of its joined text."""
    starts = document.starts
    first = bisect.bisect_right(starts, start) - 1
    last = bisect.bisect_right(starts, max(start, end - 1)) - 1
    out = []
    for index in range(first, last + 1):
        line = document.lines[index]
        begin = max(0, start - starts[index])
        stop = min(len(line.text), end - starts[index])
        out.append(line._replace(text=line.text[begin:stop]))
    return out


def where(document: Document, heading: Heading) -> str:
    """``file:line`` of a heading."""
    starts = document.starts
    line = document.lines[bisect.bisect_right(starts, heading.start) - 1]
    return f"{line.file}:{line.number}"


def find_section(document: Document, source: str, title: str | None, anchor: str | None) -> list[Line]:
    """The lines of the section named by ``title`` (or path) or ``anchor``, up to
    the next heading of the same or a higher level."""
    headings = document.headings
    if anchor is not None:
        index = _by_anchor(document, source, anchor)
    else:
        assert title is not None
        index = _by_title(document, source, title)
    heading = headings[index]
    end = next((h.start for h in headings[index + 1 :] if h.level <= heading.level), None)
    end = len(document.joined) if end is None else end
    return lines_between(document, heading.start, end)


def _by_anchor(document: Document, source: str, anchor: str) -> int:
    headings = document.headings
    for index, heading in enumerate(headings):
        if heading.anchor == anchor:
            return index
    # A \label further into a section still names it, as LaTeX's \ref would.
    for offset, name in document.labels:
        if name == anchor:
            before = [i for i, h in enumerate(headings) if h.start < offset]
            if before:
                return before[-1]
            raise ContentError(f"{source}: \\label{{{anchor}}} follows no heading")
    known = [h.anchor for h in headings if h.anchor]
    import difflib  # only for a selector that matches nothing

    near = difflib.get_close_matches(anchor, known, n=_SHOWN, cutoff=0.4)
    listed = [*near, *(name for name in known if name not in near)][:_SHOWN]
    shown = ", ".join(f"label: {yaml_quote(name)}" for name in listed if name) or "none"
    more = f" (and {len(known) - len(listed)} more)" if len(known) > len(listed) else ""
    raise ContentError(
        f"{source}: no heading labelled {yaml_quote(anchor)}", hint=f"near matches first: {shown}{more}"
    )


def _by_title(document: Document, source: str, title: str) -> int:
    headings = document.headings
    wanted = title_key(title)
    matches = [i for i, h in enumerate(headings) if wanted in _keys(h)]
    if not matches and "/" in title:
        matches = _by_path(headings, [title_key(part) for part in title.split("/")])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ContentError(f"{source}: no section titled {yaml_quote(title)}", hint=_near(document, wanted))
    listed = "; ".join(f"{where(document, headings[i])} '{_path(headings, i)}'" for i in matches)
    anchors = [headings[i].anchor for i in matches if headings[i].anchor]
    example = (
        f"label: {yaml_quote(anchors[0] or '')}"
        if anchors
        else f"section: {yaml_quote(_path(headings, matches[-1]))}"
    )
    raise ContentError(
        f"{source}: section '{title}' matches {len(matches)} headings: {listed}",
        hint=f"name one with `label:` or a path such as `{example}`",
    )


#: How many suggestions a selector error lists.
_SHOWN = 6


def yaml_quote(text: str) -> str:
    """``text`` as a YAML single-quoted scalar: valid pasted anywhere in a manifest (a
    backslash is literal in it, unlike in double quotes)."""
    return "'" + " ".join(text.split()).replace("'", "''") + "'"


def _near(document: Document, wanted: str) -> str:
    """The headings a title that matches none most likely meant, nearest first, each as the
    selector to paste: its nesting path, and its own ``label:`` (which survives a rename)."""
    headings = document.headings
    if not headings:
        return "the file has no headings figbuild knows"
    import difflib  # only for a selector that matches nothing

    keys = [title_key(h.title) for h in headings]
    scores = []
    for index, key in enumerate(keys):
        ratio = difflib.SequenceMatcher(None, wanted, key).ratio()
        if wanted and (wanted in key or key in wanted):
            ratio = max(ratio, 0.75)
        scores.append((-ratio, index))
    order = [index for _, index in sorted(scores)]
    shown = []
    for index in order[:_SHOWN]:
        heading = headings[index]
        text = f"section: {yaml_quote(_path(headings, index))}"
        if heading.anchor:
            text += f" or label: {yaml_quote(heading.anchor)}"
        shown.append(f"{text} ({where(document, heading)})")
    more = f"; and {len(headings) - len(shown)} more" if len(headings) > len(shown) else ""
    return "near matches first: " + "; ".join(shown) + more


def _keys(heading: Heading) -> tuple[str | None, ...]:
    """What a title selector may match: the title (macros expanded), the short title, and
    the title as written with its user macros left out (``\\ours: Method`` is ``Method``)."""
    raw = title_key(heading.raw).strip(" :;,.-") if heading.raw is not None else None
    return (title_key(heading.title), _short_key(heading), raw)


def _short_key(heading: Heading) -> str | None:
    return title_key(heading.short) if heading.short is not None else None


def _parents(headings: Sequence[Heading], index: int) -> list[int]:
    """Indices of the headings that enclose heading ``index``, innermost first."""
    out, level = [], headings[index].level
    for i in range(index - 1, -1, -1):
        if headings[i].level < level:
            out.append(i)
            level = headings[i].level
    return out


def _by_path(headings: Sequence[Heading], keys: list[str]) -> list[int]:
    def matches(i: int, key: str) -> bool:
        return key in _keys(headings[i])

    found = []
    for index in range(len(headings)):
        if not matches(index, keys[-1]):
            continue
        wanted = list(reversed(keys[:-1]))
        for parent in _parents(headings, index):
            if wanted and matches(parent, wanted[0]):
                wanted.pop(0)
        if not wanted:
            found.append(index)
    return found


def _path(headings: Sequence[Heading], index: int) -> str:
    titles = [headings[i].title for i in reversed(_parents(headings, index))]
    return "/".join([*titles, headings[index].title])
