"""Text from elsewhere made safe for a terminal: control characters shown, not obeyed.

A server's error message or task field may carry ANSI escapes or carriage
returns that would repaint the user's terminal or hide a line; SPEC: "Text from
the server is shown with control characters escaped".
"""

from __future__ import annotations

import re

# C0 controls (newline and tab too: server text is shown on one line), DEL, C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The same, but keeping the newlines and tabs figbuild's own multi-line messages use.
_CONTROL_IN_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return repr(match[0])[1:-1]


def printable(text: str) -> str:
    """``text`` on one line with every control character written as an escape (``\\x1b``)."""
    return _CONTROL.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but newlines and tabs stay: for whole messages about to be printed."""
    return _CONTROL_IN_LINES.sub(_escape, text)
