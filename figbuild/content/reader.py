"""Reading content sources under a paper root: globs, includes, sections, the stat cache."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from figbuild import fastpath
from figbuild.content.model import RULES_VERSION, ContentError, ContentPart, kind_of, label_of
from figbuild.digests import StatCache
from figbuild.manifest import ContentSource
from figbuild.paths import RootGuard

if TYPE_CHECKING:
    from figbuild.content import includes
    from figbuild.content.text import Document
    from figbuild.request import Request


class ContentReader:
    """Reads content sources under one paper root, each file at most once per run.

    With a :class:`~figbuild.digests.StatCache`, a part none of whose files
    (the named file and everything it includes) changed is not read at all.
    """

    def __init__(self, root: Path, stats: StatCache | None = None) -> None:
        self.root = root
        self.stats = stats
        self._guard = RootGuard(root)
        self._texts: dict[str, str] = {}
        self._expanders: dict[bool, includes.Expander] = {}
        self._documents: dict[tuple[str, bool], tuple[Document, tuple[str, ...]]] = {}
        #: Include candidates looked for and not found, per document: one appearing
        #: later changes what is read, so the stat cache records their absence.
        self._absent: dict[tuple[str, bool], tuple[str, ...]] = {}
        self._looked: list[str] = []
        #: parts by source: figures share content files
        self._parts: dict[tuple[str, str | None, str | None, bool], list[ContentPart]] = {}

    def parts(self, source: ContentSource) -> list[ContentPart]:
        """The normalised parts ``source`` names, one per matched file, in sorted order."""
        key = (source.pattern, source.section, source.anchor, source.keep_figures)
        if key not in self._parts:
            self._parts[key] = self._read_parts(source)
        return self._parts[key]

    def _read_parts(self, source: ContentSource) -> list[ContentPart]:
        parts = []
        for path in self.expand(source.pattern):
            relative = path.relative_to(self.root).as_posix()
            key = f"{RULES_VERSION}|{relative}|{source.section}|{source.anchor}|{int(source.keep_figures)}"
            hit = self.stats.lookup_files(key, self.root) if self.stats is not None else None
            if hit is not None:
                digest, length, sources, warnings, sent_digest = hit
                label = label_of(relative, source.section, source.anchor)
                parts.append(
                    ContentPart(
                        label,
                        relative,
                        source.section,
                        digest,
                        length,
                        sources=tuple((str(f), str(d)) for f, d in sources),
                        warnings=tuple(warnings),
                        anchor=source.anchor,
                        keep_figures=source.keep_figures,
                        sent_digest=str(sent_digest),
                    )
                )
                continue
            part, files = self.part(relative, source.section, source.anchor, source.keep_figures)
            if self.stats is not None:
                self.stats.store_files(
                    key,
                    self.root,
                    files,
                    part.digest,
                    part.length,
                    [list(pair) for pair in part.sources],
                    list(part.warnings),
                    part.sent_digest,
                    absent=self._absent.get((relative, source.keep_figures), ()),
                )
            parts.append(part)
        return parts

    def part(
        self, relative: str, section: str | None, anchor: str | None, keep_figures: bool = False
    ) -> tuple[ContentPart, tuple[str, ...]]:
        """One file's part (a section of it, when asked), and every file read for it."""
        from figbuild.content import rules

        document, files = self._document(relative, keep_figures)
        return rules.part_of(document, relative, section, anchor, keep_figures), files

    def _document(self, relative: str, keep_figures: bool) -> tuple[Document, tuple[str, ...]]:
        key = (relative, keep_figures)
        cached = self._documents.get(key)
        if cached is None:
            from figbuild.content import rules

            kind = kind_of(relative)
            self._looked = []
            if kind == "latex":
                cached = rules.expanded(self, relative, keep_figures, self._expanders)
            elif kind == "markdown":
                cached = rules.expanded_markdown(self, relative, keep_figures)
            else:
                cached = (rules.document_of(self.read(relative), relative, kind, keep_figures), (relative,))
            self._absent[key] = tuple(self._looked)  # include candidates that were not there
            self._documents[key] = cached
        return cached

    def fill(self, part: ContentPart) -> ContentPart:
        """``part`` with its text, read now; a ContentError if the file changed since."""
        if part.text is not None:
            return part
        filled, _ = self.part(part.file, part.section, part.anchor, part.keep_figures)
        if filled.digest != part.digest:
            raise ContentError(f"{part.label} changed while figbuild was working; run it again")
        return filled

    def filled(self, request: Request) -> Request:
        """``request`` with the text of every content part (for sending)."""
        return replace(request, content=tuple(self.fill(part) for part in request.content))

    def expand(self, pattern: str) -> list[Path]:
        """The files ``pattern`` (a path or glob) names inside the root, sorted."""
        if Path(pattern).is_absolute():
            raise ContentError(f"{pattern!r} is absolute; paths must be relative to the paper root")
        if glob.has_magic(pattern):
            fastpath.note_glob(self.root, pattern)
            matches = sorted(
                Path(match)
                for match in glob.glob(pattern, root_dir=self.root, recursive=True)  # noqa: PTH207 - root_dir keeps names relative
            )
            paths = [self.root / match for match in matches if (self.root / match).is_file()]
            if not paths:
                raise ContentError(f"glob {pattern!r} matches no file", hint="check the pattern")
        else:
            paths = [self.root / pattern]
            fastpath.note_input(paths[0])  # its absence decides too: a file that appears later
        for path in paths:
            self._check_inside(path, pattern)
        return paths

    def _check_inside(self, path: Path, pattern: str) -> None:
        if not self._guard.inside(path):
            raise ContentError(
                f"{path.relative_to(self.root).as_posix()!r} (from {pattern!r}) is outside the "
                "paper root; figbuild only reads files inside it",
                hint="move the file into the paper, or point at a copy inside it",
            ) from None
        if not path.exists():
            raise ContentError(f"file {pattern!r} does not exist", hint="check the path")
        if not path.is_file():
            raise ContentError(f"{pattern!r} is not a file")

    # -- includes.Files: what include-following may read ------------------------------------

    def find(self, candidates: Sequence[str]) -> str | None:
        """The first candidate that is a file; a ContentError if it resolves outside the root."""
        for candidate in candidates:
            path = self.root / candidate
            fastpath.note_input(path)  # a candidate that appears later changes what is found
            if path.is_file():
                if not self._guard.inside(path):
                    raise ContentError(
                        f"{candidate} links to outside the paper root; figbuild only reads files inside it"
                    )
                return candidate
            self._looked.append(candidate)
        return None

    def read(self, relative: str) -> str:
        """The text of ``relative`` (read once per reader)."""
        text = self._texts.get(relative)
        if text is None:
            fastpath.note_input(self.root / relative)
            try:
                text = (self.root / relative).read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ContentError(
                    f"{relative} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8"
                ) from None
            except OSError as exc:
                raise ContentError(f"cannot read {relative}: {exc.strerror}") from None
            self._texts[relative] = text
        return text
