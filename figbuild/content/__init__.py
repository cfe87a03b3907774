"""Paper content: follow includes, drop what is not prose, pick sections, normalise.

What is sent is the text the author means as the paper's prose (SPEC, "The
manifest"), and what is hashed is its canonical form: a comment, a figure float, a
note, a re-wrapped paragraph or a label can change without making a figure stale.

- :mod:`.latex` and :mod:`.markdown` say what is prose and where headings are;
- :mod:`.includes` follows LaTeX's ``\\input``-style includes;
- :mod:`.macros` applies LaTeX conditionals and user macros;
- :mod:`.canonical` defines the two forms of a part: the text sent, the canonical form;
- :mod:`.text` finds sections;
- :mod:`.rules` applies them to a file: document, section, part;
- :mod:`.reader` reads sources under a paper root, with the stat cache (and
  imports the rest only when a file has to be read).
"""

from __future__ import annotations

from figbuild.content.model import (
    LATEX_SUFFIXES,
    MARKDOWN_SUFFIXES,
    RULES_VERSION,
    ContentError,
    ContentPart,
    Line,
    Span,
)
from figbuild.content.reader import ContentReader

__all__ = [
    "LATEX_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "RULES_VERSION",
    "ContentError",
    "ContentPart",
    "ContentReader",
    "Line",
    "Span",
    "normalise",
    "section",
    "strip_latex_comment",
]


def strip_latex_comment(line: str) -> tuple[str, bool]:
    """The line without its ``%`` comment (``\\%`` is kept), and whether it had one."""
    from figbuild.content.latex import strip_comment

    body, comment = strip_comment(line)
    return body, comment is not None


def normalise(text: str, kind: str) -> str:
    """``text`` (one file, includes not followed) as it would be sent."""
    from figbuild.content.rules import document_of
    from figbuild.content.text import normalise_lines

    return normalise_lines(document_of(text, "<text>", kind).lines, kind)[0]


def section(text: str, kind: str, title: str, label: str) -> str:
    """The section of ``text`` under heading ``title`` (or a ``Parent/Child`` path), up
    to the next heading of the same or a higher level, as it would be sent."""
    if kind not in ("latex", "markdown"):
        raise ContentError(f"{label}: sections can only be picked from LaTeX (.tex) or Markdown (.md) files")
    from figbuild.content.rules import document_of, select
    from figbuild.content.text import normalise_lines

    document = document_of(text, label, kind)
    return normalise_lines(select(document, label, title, None), kind)[0]
