"""The AI-usage statement: what ``figbuild disclose`` writes and ``sync`` keeps current.

:mod:`.model` gathers the facts (lock, store, the provenance inside each image),
:mod:`.text` words them (LaTeX, Markdown, JSON, or a venue's Jinja2 template) and
:mod:`.managed` keeps the paper's file (``disclosure: {output: …}``) and checks it.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from figbuild import atomic
from figbuild.disclosure.managed import (
    DisclosureStatus,
    FileState,
    format_of,
    key,
    read_state,
    status,
    template_text,
    with_header,
)
from figbuild.disclosure.model import Item, StandIn, Statement, gather, on_disk
from figbuild.disclosure.text import FORMATS, DisclosureError, latex_escape, markdown_escape, render
from figbuild.lockfile import Lock
from figbuild.manifest import Manifest
from figbuild.statedir import run_lock
from figbuild.store import Store

__all__ = [
    "FORMATS",
    "DisclosureError",
    "DisclosureStatus",
    "Item",
    "Refreshed",
    "StandIn",
    "Statement",
    "latex_escape",
    "markdown_escape",
    "refresh",
    "render",
    "statement",
    "status",
    "template_text",
    "text_of",
]


def statement(manifest: Manifest, lock: Lock, digests: dict[str, str | None] | None = None) -> Statement:
    """The facts of the statement for the paper as it is on disk."""
    digests = on_disk(manifest.root, manifest) if digests is None else digests
    return gather(manifest, lock, digests, Store.at(manifest.root))


def text_of(manifest: Manifest, lock: Lock, fmt: str) -> str:
    """The statement in ``fmt`` (through the manifest's template, if it names one)."""
    facts = statement(manifest, lock)
    return render(facts, fmt, None if fmt == "json" else template_text(manifest))


def managed_text(manifest: Manifest, lock: Lock, fmt: str) -> str:
    """The text of the paper's disclosure file: the statement under its header."""
    digests = on_disk(manifest.root, manifest)
    body = render(statement(manifest, lock, digests), fmt, template_text(manifest))
    return with_header(body, key(manifest, lock, digests, fmt), fmt)


def is_managed(manifest: Manifest, path: Path) -> bool:
    """Whether ``path`` is the paper's disclosure file."""
    disclosure = manifest.disclosure
    if disclosure is None or disclosure.output is None:
        return False
    return path.resolve() == (manifest.root / disclosure.output).resolve()


class Refreshed(str, Enum):
    NONE = "none"  # the manifest names no disclosure file
    CURRENT = "current"
    WRITTEN = "written"
    KEPT = "kept"  # edited by hand: kept (sync --force rewrites it)


def refresh(manifest: Manifest, lock_path: Path, *, force: bool = False) -> Refreshed:
    """Bring the paper's disclosure file up to date: written atomically, and only when its
    text changes (so latexmk rebuilds for nothing else); a hand edit is kept unless ``force``."""
    disclosure = manifest.disclosure
    if disclosure is None or disclosure.output is None:
        return Refreshed.NONE
    from figbuild import lockfile

    path = manifest.root / disclosure.output
    fmt = format_of(disclosure.output)
    with run_lock(manifest.root):
        lock = lockfile.read(lock_path)
        digests = on_disk(manifest.root, manifest)
        wanted = key(manifest, lock, digests, fmt)
        state, old = read_state(path, wanted)
        if state is FileState.FRESH:
            return Refreshed.CURRENT
        if state is FileState.MODIFIED and not force:
            return Refreshed.KEPT
        body = render(statement(manifest, lock, digests), fmt, template_text(manifest))
        text = with_header(body, wanted, fmt)
        if text == old:
            return Refreshed.CURRENT
        atomic.write_bytes(path, text.encode("utf-8"))
        return Refreshed.WRITTEN
