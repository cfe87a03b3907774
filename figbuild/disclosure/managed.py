"""The statement's file in the paper (``disclosure: {output: ai-disclosure.tex}``).

``sync`` keeps it current and ``status`` checks it. Its first line is a comment with
two digests: ``key``, of everything in the lock (and the outputs on disk) the
statement is made from, and ``text``, of the text below it. So ``status`` tells,
from the lock and the file alone (no store, no image read, no Jinja2), whether it is
fresh, out of date, or edited by hand; and a fresh clone checks as well as the
machine that wrote it. The store's and the images' part in the statement is a
function of the image hashes the key covers.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from figbuild import __version__, fastpath
from figbuild.lockfile import Lock
from figbuild.manifest import DISCLOSURE_SUFFIXES, Manifest
from figbuild.state import State

_HEADER = re.compile(r"^(?:%|<!--) figbuild-disclosure key=([0-9a-f]+) text=([0-9a-f]+)\b")
_NOTE = "written by figbuild from figures.lock; do not edit (for your own wording: disclosure.template)"
#: The row's id in `status`.
ROW = "disclosure"


def format_of(output: str) -> str:
    return DISCLOSURE_SUFFIXES.get(Path(output).suffix.lower(), "latex")


def _digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def template_text(manifest: Manifest) -> str | None:
    """The template's source, or None for the default wording."""
    if manifest.disclosure is None or manifest.disclosure.template is None:
        return None
    path = manifest.root / manifest.disclosure.template
    fastpath.note_input(path)
    from figbuild.disclosure.text import DisclosureError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DisclosureError(f"cannot read the disclosure template {path}: {exc}") from None


def key(manifest: Manifest, lock: Lock, on_disk: dict[str, str | None], fmt: str) -> str:
    """The digest of what the statement is made from (see the module's docstring)."""
    template = template_text(manifest)
    figures: list[Any] = []
    for figure in manifest.figures:
        record = lock.record(figure.id).generated
        row: list[Any] = [figure.id, figure.output, figure.mode, figure.candidates, on_disk.get(figure.id)]
        if record is not None:
            made = record.how in ("generated", "candidate")
            row += [record.sha256, record.how, record.model, record.resolution, record.task_id]
            row += [record.candidate, record.parts.get("type"), record.generated_at if made else None]
        figures.append(row)
    document = [__version__, fmt, None if template is None else _digest(template), figures]
    return _digest(json.dumps(document, separators=(",", ":")))


def with_header(body: str, key_digest: str, fmt: str) -> str:
    words = f"figbuild-disclosure key={key_digest} text={_digest(body)}: {_NOTE}"
    header = f"<!-- {words} -->" if fmt == "markdown" else f"% {words}"
    return header + "\n" + body


class FileState(str, Enum):
    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"
    MODIFIED = "modified"


@dataclass(frozen=True)
class DisclosureStatus:
    """The statement's file as `status` shows it: a row beside the figures'."""

    output: str
    state: State
    reasons: tuple[str, ...]
    key: str
    id: str = ROW

    def line(self, width: int = 0) -> str:
        reasons = "; ".join(self.reasons)
        line = f"{self.id:<{width}}  {self.state.value:<8}  {self.output}"
        return line + (f"  ({reasons})" if reasons else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "disclosure",
            "state": self.state.value,
            "reasons": list(self.reasons),
            "output": self.output,
            "cost": 0,
            "fingerprint": self.key,
        }


def read_state(path: Path, wanted_key: str) -> tuple[FileState, str | None]:
    """The file's state against ``wanted_key``, and its text (None when absent)."""
    fastpath.note_input(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FileState.MISSING, None
    except (OSError, UnicodeDecodeError):
        return FileState.MODIFIED, None
    header, _, body = text.partition("\n")
    match = _HEADER.match(header)
    if match is None or match.group(2) != _digest(body):
        return FileState.MODIFIED, text
    return (FileState.FRESH if match.group(1) == wanted_key else FileState.STALE), text


_REASONS = {
    FileState.MISSING: "not written yet; `figbuild sync` writes it",
    FileState.STALE: "disclosure stale: a figure's image changed since it was written; "
    "`figbuild sync` rewrites it",
    FileState.MODIFIED: "edited by hand since figbuild wrote it; `figbuild sync --force` rewrites it; "
    "for your own wording, set disclosure.template",
}
_STATES = {
    FileState.FRESH: State.FRESH,
    FileState.STALE: State.STALE,
    FileState.MISSING: State.MISSING,
    FileState.MODIFIED: State.MODIFIED,
}


def status(manifest: Manifest, lock: Lock, on_disk: dict[str, str | None]) -> DisclosureStatus | None:
    """The row for `status`, or None when the manifest names no disclosure file."""
    disclosure = manifest.disclosure
    if disclosure is None or disclosure.output is None:
        return None
    fmt = format_of(disclosure.output)
    wanted = key(manifest, lock, on_disk, fmt)
    state, _ = read_state(manifest.root / disclosure.output, wanted)
    reasons = () if state is FileState.FRESH else (_REASONS[state],)
    return DisclosureStatus(disclosure.output, _STATES[state], reasons, wanted)
