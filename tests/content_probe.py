"""Everything the content rules answer for a paper, as plain data: the proof that a change
to the rules' code changes no output (tests/test_content_golden.py).

For each content file, with and without ``keep_figures``: the document's lines, headings,
labels and files, the whole file's part, and the part of every heading by title and by
its label; an error is recorded as its type, message and hint. A part is its label,
canonical digest, sent digest, length, text, spans, sources and warnings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from figbuild.manifest import ContentSource

CONTENT_SUFFIXES = (".tex", ".md", ".qmd", ".markdown", ".rmd", ".txt")


def _error(exc: Exception) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc), "hint": getattr(exc, "hint", None)}


def _part(part: Any) -> dict[str, Any]:
    return {
        "label": part.label,
        "digest": part.digest,
        "sent_digest": part.sent_digest,
        "length": part.length,
        "text": part.text,
        "spans": [list(span) for span in part.spans],
        "sources": [list(source) for source in part.sources],
        "warnings": list(part.warnings),
    }


def _parts(package: ModuleType, root: Path, source: ContentSource) -> Any:
    try:
        return [_part(part) for part in package.ContentReader(root).parts(source)]
    except package.ContentError as exc:  # an error is an output like any other
        return _error(exc)


def probe_file(package: ModuleType, root: Path, relative: str) -> dict[str, Any]:
    """What the rules of ``package`` (a content package) answer for one file under ``root``."""
    out: dict[str, Any] = {}
    for keep in (False, True):
        entry: dict[str, Any] = {}
        reader = package.ContentReader(root)
        try:
            document, files = reader._document(relative, keep)
        except package.ContentError as exc:
            out[f"keep={keep}"] = _error(exc)
            continue
        entry["files"] = list(files)
        entry["lines"] = [list(line) for line in document.lines]
        entry["headings"] = [[h.start, h.level, h.title, h.short, h.anchor, h.raw] for h in document.headings]
        entry["labels"] = [list(label) for label in document.labels]
        entry["missing"] = sorted(
            f"{file}:{line}: {error}" for (file, line), error in document.missing.items()
        )
        entry["whole"] = _parts(package, root, ContentSource(relative, keep_figures=keep))
        sections = {}
        for heading in document.headings:
            sections[f"title:{heading.title}"] = _parts(
                package, root, ContentSource(relative, heading.title, keep_figures=keep)
            )
            if heading.raw is not None:
                sections[f"raw:{heading.raw}"] = _parts(
                    package, root, ContentSource(relative, heading.raw, keep_figures=keep)
                )
            if heading.anchor:
                sections[f"anchor:{heading.anchor}"] = _parts(
                    package, root, ContentSource(relative, anchor=heading.anchor, keep_figures=keep)
                )
        for _, name in document.labels:
            sections[f"label:{name}"] = _parts(
                package, root, ContentSource(relative, anchor=name, keep_figures=keep)
            )
        sections["title:no such heading"] = _parts(
            package, root, ContentSource(relative, "No Such Heading", keep_figures=keep)
        )
        entry["sections"] = sections
        out[f"keep={keep}"] = entry
    return out


def probe_tree(package: ModuleType, root: Path) -> dict[str, Any]:
    """:func:`probe_file` of every content file under ``root``, by relative path. A file on
    which the rules crash (an exception that is no ContentError, a bug) is recorded as such."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in CONTENT_SUFFIXES:
            relative = path.relative_to(root).as_posix()
            try:
                out[relative] = probe_file(package, root, relative)
            except Exception as exc:  # pinned too, so that a fix is seen
                out[relative] = {"crash": type(exc).__name__}
    return out


def fingerprint(value: Any) -> str:
    """A short digest of a probe's answer (what a golden file keeps)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()
