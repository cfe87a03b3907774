"""LaTeX include-following: ``\\input``, ``\\include``, ``\\subfile``, ``\\import`` and
``\\subimport`` replaced by the cleaned lines (:func:`.latex.clean`) of the files they name,
recursively, the way TeX finds them. A file that is missing is only an error for the
sections that include it (:attr:`Expansion.missing`), and ``\\IfFileExists`` decides by
whether the file is there.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import field
from typing import NamedTuple, Protocol

from figbuild.content import macros
from figbuild.content.latex import Cleaned, clean_joined, closing_brace
from figbuild.content.model import ContentError, Line
from figbuild.records import mutable

_IF_FILE = re.compile(r"\\(IfFileExists|InputIfFileExists)(?![A-Za-z@])\s*\{([^{}]*)\}")
_INCLUDE = re.compile(
    r"\\(?P<cmd>input|include|subfile)(?![A-Za-z@])(?:\s*\*(?=\s*\{))?\s*"  # \include* (excludeonly)
    r"(?:\{(?P<arg>[^{}]*)\}|(?P<bare>[A-Za-z0-9_./-]+))"
    r"|\\(?P<icmd>(?:sub)?(?:import|inputfrom|includefrom))\*?(?![A-Za-z@])\s*"
    r"\{(?P<dir>[^{}]*)\}\s*\{(?P<file>[^{}]*)\}"
)
#: Where an :data:`_INCLUDE` match may start: every one of its commands begins so.
_INCLUDE_HINT = re.compile(r"\\(?:input|include|import|sub(?:file|import|inputfrom|includefrom))")


class Files(Protocol):
    """The paper's files as include-following sees them (paths relative to the root)."""

    def find(self, candidates: Sequence[str]) -> str | None:
        """The first candidate that is a file inside the root, or None."""

    def read(self, relative: str) -> str:
        """The text of a file found by :meth:`find`."""


@mutable
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
            texts, code, joined = clean_joined(text, relative, self.keep_figures)
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
        (and a text of the lines kept that are not code, as for :func:`.latex.clean_joined`)."""
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
        new = tuple.__new__  # Line(...) without its Python-level __new__: most lines are made here
        start = 0
        for index in (*read.includes, len(texts)):
            # The lines up to the next one that may hold an include, as they are.
            if code:
                out.lines.extend(
                    [
                        new(Line, (relative, number, text, number - 1 in code))
                        for number, text in enumerate(texts[start:index], start + 1)
                        if text is not None
                    ]
                )
            else:
                out.lines.extend(
                    [
                        new(Line, (relative, number, text, False))
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
