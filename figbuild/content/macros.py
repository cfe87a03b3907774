"""LaTeX user macros and conditionals, read as the reader reads them.

Applied to a whole document's lines (a file with its includes followed), in order:

1. conditionals: ``\\newif\\ifX`` with ``\\Xtrue``/``\\Xfalse``, ``\\iftrue`` and
   ``\\iffalse``, with ``\\else``: only the live branch is kept, and the commands go.
   Other ``\\if…`` (``\\ifx``, ``\\ifdefined``, a flag never declared) are left as
   written, both branches;
2. definitions made with ``\\newcommand``, ``\\renewcommand``, ``\\providecommand``,
   ``\\DeclareRobustCommand``, ``\\NewDocumentCommand`` (``m`` arguments) and
   ``\\def`` (``#1#2`` parameters) are collected and removed from the text;
3. their uses are expanded, arguments and an optional first argument included, to a
   bounded depth and size so that a recursive macro cannot loop.

Lines marked ``code`` (verbatim-like environments) are never touched.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from figbuild.content.model import Line
from figbuild.records import frozen

#: How deep a macro's expansion may nest, and how much one line may grow: bounds, not limits
#: a paper meets (a self-referring \def stops here instead of looping).
MAX_DEPTH = 12
MAX_GROWTH = 100_000

_DEFINE = re.compile(
    r"\\(?P<cmd>(?:re)?newcommand|providecommand|DeclareRobustCommand|(?:New|Renew|Provide|Declare)DocumentCommand"
    r"|[gex]?def)(?![A-Za-z@])\*?\s*"
)
_CONTROL = re.compile(r"\\(?:[A-Za-z@]+|.)")
_WORD = re.compile(r"\\([A-Za-z@]+)")
#: \newif, \if…, \else and \fi; the setters \Xtrue/\Xfalse only of the flags declared.
_CONDITIONAL = re.compile(r"\\(?:newif\s*\\if([A-Za-z@]+)|(if[A-Za-z@]*|else|fi))(?![A-Za-z@])")
_DECLARED = re.compile(r"\\newif\s*\\if([A-Za-z@]+)")
_PARAMETER = re.compile(r"#(#|[1-9])")
_XSPACE = re.compile(r"\\xspace(?![A-Za-z@])\s*")


@frozen
class Macro:
    arguments: int
    default: str | None  # the optional first argument's default, if it has one
    body: str


def may_define(text: str) -> bool:
    """Whether lines of ``text`` may define a macro or hold a conditional for :func:`process`
    (False: no line of it does, so lines taken from it alone leave nothing to do)."""
    # "ommand" is in each definition command that :data:`_COMMANDS` does not start with "\\".
    return "ommand" in text or _MAY_DEFINE.search(text) is not None


#: The other definition and conditional commands :func:`process` looks for.
_MAY_DEFINE = re.compile(r"\\(?:[gex]?def|newif|iff)")


def process(lines: list[Line], defines: bool = True) -> tuple[list[Line], bool]:
    """``lines`` with conditionals decided, definitions removed and macros expanded (the
    same list when there is nothing to do), and whether any macro was defined.

    ``defines`` False says that no line may define a macro or hold a conditional (the
    lines come from texts for which :func:`may_define` is False): nothing to do."""
    if not defines:
        return lines, False
    joined = _joined(lines)
    if "\\" not in joined:
        return lines, False
    flags: dict[str, bool] = {}
    # \iftrue and \iffalse are decided file by file when cleaning; flags may be set anywhere.
    spans = conditional_spans(joined, flags) if "\\newif" in joined or "\\iff" in joined else []
    macros: dict[str, Macro] = {}
    if any(command in joined for command in _COMMANDS):
        macros, defined = definitions(joined, sorted(spans))
        spans += defined
    if spans:
        lines = _cut(lines, joined, spans)
    if not macros:
        return lines, False
    lines = [
        line if line.code or "\\" not in line.text else line._replace(text=expand(line.text, macros))
        for line in lines
    ]
    if flags:
        expanded = _joined(lines)
        if "\\if" in expanded:
            lines = _cut(lines, expanded, conditional_spans(expanded, flags))
    return lines, True


#: The definition commands, as plain text: a quick test before the regular expression.
_COMMANDS = (
    "newcommand",
    "providecommand",
    "\\def",
    "\\gdef",
    "\\edef",
    "\\xdef",
    "RobustCommand",
    "DocumentCommand",
)


def _joined(lines: Sequence[Line]) -> str:
    return "\n".join(["" if line.code else line.text for line in lines])


def _cut(lines: list[Line], joined: str, spans: list[tuple[int, int]]) -> list[Line]:
    """``lines`` with the spans (offsets in ``joined``, their text with code lines empty) cut
    out; a line left with nothing that had something goes, as a comment line does for TeX."""
    cuts: dict[int, list[tuple[int, int]]] = {}
    index, position = 0, 0  # the line at offset ``position`` (counting newlines, in C)
    for start, end in _merged(spans):
        index += joined.count("\n", position, start)
        position = start
        line_start = joined.rfind("\n", 0, start) + 1
        while True:
            line_end = joined.find("\n", line_start)
            line_end = len(joined) if line_end == -1 else line_end
            if not lines[index].code:
                cuts.setdefault(index, []).append(
                    (max(start, line_start) - line_start, min(end, line_end) - line_start)
                )
            if end <= line_end + 1 or line_end == len(joined):
                break
            index, line_start = index + 1, line_end + 1
        position = line_start
    out = list(lines)
    gone = set()
    for number, pieces in cuts.items():
        text = lines[number].text
        kept, at = [], 0
        for begin, stop in sorted(pieces):
            if begin > at:
                kept.append(text[at:begin])
            at = max(at, stop)
        kept.append(text[at:])
        new = "".join(kept)
        if new.strip() or not text.strip():
            out[number] = lines[number]._replace(text=new)
        else:
            gone.add(number)
    return [line for number, line in enumerate(out) if number not in gone] if gone else out


def _merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, those that overlap joined: a definition inside a conditional's
    dead branch that is never closed is cut by both (the walk in :func:`_cut` needs
    each span to start after the one before ends)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def conditional_spans(text: str, flags: dict[str, bool]) -> list[tuple[int, int]]:
    """What conditionals take out of ``text``: dead branches and the commands themselves.

    ``flags`` holds the ``\\newif`` flags and their values; it is updated as they are set.
    """
    spans: list[tuple[int, int]] = []
    # One frame per open conditional: whether its current branch is live, or None for one
    # figbuild does not decide (or one inside a dead branch, which goes whole).
    frames: list[bool | None] = []
    dead_at: int | None = None  # the frame whose dead branch is being skipped
    dead_from = 0
    pattern = _CONDITIONAL
    names = set(_DECLARED.findall(text)) | set(flags) if "\\newif" in text or flags else set()
    if names:
        setters = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
        pattern = re.compile(
            r"\\(?:newif\s*\\if([A-Za-z@]+)|(if[A-Za-z@]*|else|fi|(?:"
            + setters
            + r")(?:true|false)))(?![A-Za-z@])"
        )
    for match in pattern.finditer(text):
        declared, name = match.group(1), match.group(2)
        if declared is not None:
            if dead_at is None:
                flags[declared] = False
                spans.append(match.span())
            continue
        assert name is not None
        if name.startswith("if") and (name in ("iftrue", "iffalse") or not name.endswith(("true", "false"))):
            if name in ("iff", "ifthenelse") or text.startswith("{", match.end()):
                continue  # a symbol and a command: neither has a \fi
            flag = name[2:]
            if dead_at is not None or not (name in ("iftrue", "iffalse") or flag in flags):
                frames.append(None)
                continue
            live = name == "iftrue" or (name != "iffalse" and flags[flag])
            spans.append(match.span())
            frames.append(live)
            if not live:
                dead_at, dead_from = len(frames) - 1, match.end()
        elif name == "else":
            top = len(frames) - 1
            if top < 0 or frames[top] is None:
                continue
            if dead_at == top:
                spans.append((dead_from, match.end()))
                dead_at, frames[top] = None, True
            elif dead_at is None:
                dead_at, dead_from, frames[top] = top, match.start(), False
        elif name == "fi":
            if not frames:
                continue
            top = len(frames) - 1
            frame = frames.pop()
            if dead_at is not None:
                if dead_at == top:
                    spans.append((dead_from, match.end()))
                    dead_at = None
            elif frame is not None:
                spans.append(match.span())
        else:  # \Xtrue, \Xfalse
            value = name.endswith("true")
            flag = name[:-4] if value else name[:-5]
            if flag in flags and dead_at is None:
                flags[flag] = value
                spans.append(match.span())
    if dead_at is not None:
        spans.append((dead_from, len(text)))
    return spans


def definitions(
    text: str, dead: Sequence[tuple[int, int]] = ()
) -> tuple[dict[str, Macro], list[tuple[int, int]]]:
    """The macros ``text`` defines, and the spans of their definitions; one inside a ``dead``
    span (a branch a conditional leaves out, sorted) defines nothing."""
    from figbuild.content.latex import closing_brace

    starts = [start for start, _ in dead]

    macros: dict[str, Macro] = {}
    spans: list[tuple[int, int]] = []
    position = 0
    while (match := _DEFINE.search(text, position)) is not None:
        command, at = match.group("cmd"), match.end()
        position = at
        name, at = _name(text, at)
        if name is None:
            continue
        arguments, default, usable = 0, None, True
        if command.endswith("def"):
            brace = text.find("{", at)
            if brace == -1:
                continue
            parameters = text[at:brace].replace(" ", "")
            usable = re.fullmatch(r"(?:#[1-9])*", parameters) is not None
            arguments = parameters.count("#")
            at = brace
        elif command.endswith("DocumentCommand"):
            spec, at = _group(text, _skip(text, at))
            if spec is None:
                continue
            kinds = spec.split()
            usable = all(kind == "m" for kind in kinds)
            arguments = len(kinds)
            at = _skip(text, at)
        else:
            at = _skip(text, at)
            if text.startswith("[", at):
                close = text.find("]", at)
                if close == -1:
                    continue
                count = text[at + 1 : close].strip()
                arguments = int(count) if count.isdigit() else 0
                at = _skip(text, close + 1)
                if text.startswith("[", at):
                    end = _bracket(text, at)
                    if end is None:
                        continue
                    default = text[at + 1 : end]
                    at = _skip(text, end + 1)
        if not text.startswith("{", at):
            continue
        body_end = closing_brace(text, at + 1)
        if body_end is None:
            continue
        close = body_end
        body = _XSPACE.sub("", text[at + 1 : close])
        spans.append((match.start(), close + 1))
        position = close + 1
        if dead:
            index = bisect.bisect_right(starts, match.start()) - 1
            if index >= 0 and dead[index][1] >= close + 1:
                continue
        if usable and not (command == "providecommand" and name in macros):
            macros[name] = Macro(arguments, default, body)
    return macros, spans


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\n":
        at += 1
    return at


def _bracket(text: str, at: int) -> int | None:
    """The ``]`` closing the ``[`` at ``at`` (braces inside are skipped)."""
    depth = 0
    for index in range(at + 1, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "]" and depth <= 0:
            return index
    return None


def _group(text: str, at: int) -> tuple[str | None, int]:
    from figbuild.content.latex import closing_brace

    if not text.startswith("{", at):
        return None, at
    close = closing_brace(text, at + 1)
    if close is None:
        return None, at
    return text[at + 1 : close], close + 1


def _name(text: str, at: int) -> tuple[str | None, int]:
    """The macro name a definition names at ``at`` (``{\\x}`` or ``\\x``), without the backslash."""
    if text.startswith("{", at):
        group, end = _group(text, at)
        if group is None:
            return None, at
        group = group.strip()
        control = _CONTROL.fullmatch(group)
        return (group[1:], end) if control is not None else (None, at)
    control = _CONTROL.match(text, at)
    if control is None:
        return None, at
    return control.group(0)[1:], control.end()


def expand(text: str, macros: dict[str, Macro]) -> str:
    """``text`` with every use of ``macros`` expanded (within the bounds above)."""
    if "\\" not in text:
        return text
    budget = [len(text) + MAX_GROWTH]
    return _expand(text, macros, 0, budget)


def _expand(text: str, macros: dict[str, Macro], depth: int, budget: list[int]) -> str:
    out: list[str] = []
    position = 0
    while (match := _WORD.search(text, position)) is not None:
        macro = macros.get(match.group(1))
        if macro is None:
            out.append(text[position : match.end()])
            position = match.end()
            continue
        arguments, end = _arguments(text, match.end(), macro)
        if arguments is None:
            out.append(text[position : match.end()])
            position = match.end()
            continue
        body = _substitute(macro.body, arguments) if macro.arguments else macro.body
        budget[0] -= len(body)
        if depth < MAX_DEPTH and budget[0] > 0 and "\\" in body:
            body = _expand(body, macros, depth + 1, budget)
        out.append(text[position : match.start()])
        out.append(body)
        position = end
    out.append(text[position:])
    return "".join(out)


def _substitute(body: str, arguments: list[str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) == "#":
            return "#"
        index = int(match.group(1)) - 1
        return arguments[index] if index < len(arguments) else ""

    return _PARAMETER.sub(one, body)


def _arguments(text: str, at: int, macro: Macro) -> tuple[list[str] | None, int]:
    """The arguments of a use of ``macro`` whose name ends at ``at``, and where it ends."""
    from figbuild.content.latex import closing_brace

    if macro.arguments == 0:
        if text.startswith("{}", at):
            at += 2  # \ours{} keeps the space after it; it is not an argument
        return [], at
    arguments: list[str] = []
    wanted = macro.arguments
    if macro.default is not None:
        probe = _skip(text, at)
        if text.startswith("[", probe):
            close = _bracket(text, probe)
            if close is None:
                return None, at
            arguments.append(text[probe + 1 : close])
            at = close + 1
        else:
            arguments.append(macro.default)
        wanted -= 1
    for _ in range(wanted):
        at = _skip(text, at)
        if at >= len(text):
            return None, at
        if text[at] == "{":
            close = closing_brace(text, at + 1)
            if close is None:
                return None, at
            arguments.append(text[at + 1 : close])
            at = close + 1
        elif text[at] == "\\":
            control = _CONTROL.match(text, at)
            assert control is not None
            arguments.append(control.group(0))
            at = control.end()
        else:
            arguments.append(text[at])
            at += 1
    return arguments, at
