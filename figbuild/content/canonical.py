"""The two forms of a part's content, defined in one place from the same lines.

- The **text sent** is for a reader (the API, and ``figbuild show``): paragraph
  breaks kept, code keeping its lines. LaTeX paragraphs are joined onto one line,
  as TeX reads a newline as a space; Markdown keeps its lines.
- The **canonical form** is what a part's digest is taken over (SPEC, "Presentation
  never counts"): the prose as a sequence of words, headings as their titles, code
  as its lines. Line breaks, blank lines, ``\\label``\\ s, heading attributes
  (``{#sec-x .class}``), captions and images do not appear in it, so editing them
  never restales a figure.

The canonical form is computed from the same line texts as the text sent, and only
drops or re-spaces what it reads: a change of the canonical form is always a change
of some non-blank text sent, so ``figbuild diff`` always has a line to show for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter

from figbuild.content.model import Line, Span, spans_of

_SPACES = re.compile(r"[ \t\f\v]+")
#: \label{...} anywhere, and the space a control word may have before its argument.
_LATEX_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")
_CONTROL_SPACE = re.compile(r"(\\[A-Za-z@]+\*?)\s+(?=[\[{])")
_CAPTION = re.compile(r"\\caption(?:of)?(?![A-Za-z@])\*?\s*")
_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MD_ATTRIBUTES = re.compile(r"\s*\{[^{}]*\}\s*$")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_MD_IMAGE = re.compile(r"!\[(?:[^\[\]]|\[[^\[\]]*\])*\]\([^()]*\)(?:\{[^{}]*\})?")
_RUNS = re.compile("  +")
_IS_CODE = itemgetter(3)  # Line.code
#: Separates a code line from the words around it in the canonical form.
_CODE = "\x0b"


def _has_blank_run(text: str) -> bool:
    return "  " in text or "\t" in text or "\f" in text or "\v" in text


def sent_text(lines: Sequence[Line], kind: str) -> tuple[str, tuple[Span, ...]]:
    """The text as sent, and the spans of the lines it came from.

    LaTeX: each paragraph joined onto one line, since TeX treats a newline as a
    space. Markdown and plain text keep their lines (they can carry meaning) and
    indentation, with runs of blanks collapsed. Code keeps its lines as written.
    Trailing spaces and repeated blank lines go.
    """
    latex = kind == "latex"
    joiner = " " if latex else "\n"
    if not has_code(lines):
        return _paragraphs(lines, latex, joiner)
    blocks: list[str] = []
    current: list[str] = []
    current_code = False
    blank = False  # a blank line since the last block ended
    used: list[Line] = []

    def start(code: bool) -> None:
        nonlocal current_code, blank
        if blocks:
            blocks.append("\n\n" if blank else "\n")
        current_code, blank = code, False

    def end() -> None:
        if current:
            blocks.append(("\n" if current_code else joiner).join(current))
            current.clear()

    for line in lines:
        if line.code:
            if current and not current_code:
                end()
            if not current:
                start(True)
            current.append(line.text.rstrip())
            used.append(line)
            continue
        stripped = line.text.strip()
        if not stripped:
            end()
            if blocks:
                blank = True
            continue
        if current and current_code:
            end()
        if not current:
            start(False)
        # The check first: most lines have no run of blanks, and sub() on a long line is slow.
        body = _SPACES.sub(" ", stripped) if _has_blank_run(stripped) else stripped
        if not latex:
            body = line.text[: len(line.text) - len(line.text.lstrip(" \t"))] + body
        current.append(body)
        used.append(line)
    end()
    return "".join(blocks), spans_of(used)


def has_code(lines: Sequence[Line]) -> bool:
    return any(map(_IS_CODE, lines))


def _paragraphs(lines: Sequence[Line], latex: bool, joiner: str) -> tuple[str, tuple[Span, ...]]:
    """:func:`sent_text` of lines without code: paragraphs, their lines joined by ``joiner``."""
    paragraphs: list[list[str]] = [[]]
    used: list[Line] = []
    for line in lines:
        stripped = line.text.strip()
        if not stripped:
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        # The check first: most lines have no run of blanks, and sub() on a long line is slow.
        body = _SPACES.sub(" ", stripped) if _has_blank_run(stripped) else stripped
        if not latex:
            body = line.text[: len(line.text) - len(line.text.lstrip(" \t"))] + body
        paragraphs[-1].append(body)
        used.append(line)
    text = "\n\n".join(joiner.join(paragraph) for paragraph in paragraphs if paragraph)
    return text, spans_of(used)


def latex_forms(
    lines: Sequence[Line], keep_figures: bool
) -> tuple[str, tuple[Span, ...], list[tuple[str, str]]]:
    """:func:`sent_text` of LaTeX lines without code, and the :func:`canonical` form of each
    run of consecutive lines from one file, in one pass over the lines.

    Runs of blanks are collapsed per paragraph, not per line: its lines are stripped, so
    the spaces that join them never touch another blank and the text is the same."""
    paragraphs: list[list[str]] = [[]]
    paragraph = paragraphs[0]
    runs: list[tuple[str, str]] = []
    stripped_run: list[str] = []  # the run's lines, stripped (what canonical() joins)
    run_file: str | None = None
    # The spans (as spans_of makes them): the current one is span_file:first..last.
    spans: list[Span] = []
    span_file, first, last = None, 0, 0
    for line in lines:
        file = line.file
        if file != run_file:
            if run_file is not None:
                runs.append((run_file, _prose(" ".join(stripped_run), "latex", keep_figures)))
                stripped_run = []
            run_file = file
        stripped = line.text.strip()
        if not stripped:
            if paragraph:
                paragraph = []
                paragraphs.append(paragraph)
            continue
        paragraph.append(stripped)
        stripped_run.append(stripped)
        number = line.number
        if file == span_file and last <= number:
            last = number
        else:
            if span_file is not None:
                spans.append(Span(span_file, first, last))
            span_file, first, last = file, number, number
    if run_file is not None:
        runs.append((run_file, _prose(" ".join(stripped_run), "latex", keep_figures)))
    if span_file is not None:
        spans.append(Span(span_file, first, last))
    texts = []
    for words in paragraphs:
        if words:
            text = " ".join(words)
            texts.append(_SPACES.sub(" ", text) if _has_blank_run(text) else text)
    return "\n\n".join(texts), tuple(spans), runs


def canonical(lines: Sequence[Line], kind: str, keep_figures: bool = False, code: bool | None = None) -> str:
    """The canonical form of ``lines``: prose as words, headings as titles, code as lines
    (``code``: whether any line is code, when the caller knows)."""
    if kind != "markdown" and not (has_code(lines) if code is None else code):
        return _prose(
            " ".join([text for text in [line.text.strip() for line in lines] if text]), kind, keep_figures
        )
    words: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            words.append(_prose(" ".join(prose), kind, keep_figures))
            prose.clear()

    markdown = kind == "markdown"
    count = len(lines)
    skip = False
    for index, line in enumerate(lines):
        if skip:
            skip = False
            continue
        if line.code:
            flush()
            words.append(_CODE + line.text.rstrip())
            continue
        text = line.text
        if markdown:
            heading = _md_heading(text, lines[index + 1] if index + 1 < count else None)
            if heading is not None:
                flush()
                words.append(" ".join(heading[0]))
                skip = heading[1]
                continue
        prose.append(text)
    flush()
    return " ".join(word for word in words if word)


def canonical_of_text(text: str, kind: str) -> str:
    """The canonical form of a text that has no line structure to go by (one part's text)."""
    return canonical([Line("", number, line) for number, line in enumerate(text.split("\n"), 1)], kind)


def _md_heading(text: str, after: Line | None) -> tuple[list[str], bool] | None:
    """A Markdown heading's words (``##`` and its title, attributes dropped), and whether
    the next line is its setext underline; None when ``text`` is no heading."""
    if "#" in text:
        match = _MD_HEADING.match(text)
        if match is not None:
            title = _MD_ATTRIBUTES.sub("", match.group(2) or "")
            return [match.group(1), *title.split()], False
    if after is not None and not after.code and text.strip() and after.text.strip()[:1] in ("=", "-"):
        underline = _MD_SETEXT.match(after.text)
        if underline is not None and not text.lstrip().startswith(("-", "*", "+", ">", "|")):
            level = "#" if underline.group(1)[0] == "=" else "##"
            return [level, *_MD_ATTRIBUTES.sub("", text).split()], True
    return None


def _prose(text: str, kind: str, keep_figures: bool) -> str:
    """Prose as its words, one space apart (labels, captions and images left out)."""
    if kind == "latex" and "\\" in text:
        if "\\label" in text:
            text = _LATEX_LABEL.sub(" ", text)
        if not keep_figures and "\\caption" in text:
            text = _without_captions(text)
        text = _CONTROL_SPACE.sub(r"\1", text)
    elif kind == "markdown" and "![" in text and not keep_figures:
        text = _MD_IMAGE.sub(" ", text)
    return squash(text)


def squash(text: str) -> str:
    """``text`` with every run of blanks and line breaks one space, and none at the ends:
    ``" ".join(text.split())`` for ASCII blanks, without making a string of every word."""
    for blank in "\n\t\r\f\v":
        if blank in text:
            text = text.replace(blank, " ")
    if "  " in text:
        text = _RUNS.sub(" ", text)
    return text.strip(" ")


def _without_captions(text: str) -> str:
    from figbuild.content.latex import closing_brace

    out, position = [], 0
    for match in _CAPTION.finditer(text):
        if match.start() < position:
            continue
        end = match.end()
        if end < len(text) and text[end] == "[":
            close_bracket = text.find("]", end)
            end = close_bracket + 1 if close_bracket != -1 else end
            while end < len(text) and text[end].isspace():
                end += 1
        if end < len(text) and text[end] == "{":
            close = closing_brace(text, end + 1)
            end = len(text) if close is None else close + 1
        out.append(text[position : match.start()])
        out.append(" ")
        position = end
    out.append(text[position:])
    return "".join(out)
