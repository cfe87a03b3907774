"""What figbuild sent for each request, kept so that ``figbuild diff`` can say what changed.

One small JSON file per request fingerprint under the paper's private, git-ignored
``.figbuild/sent/``: the rendered prompt, the options and the normalised content
with where each part came from. Not in the lock: it can be large, and only this
clone's ``diff`` needs it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figbuild import atomic
from figbuild.request import Request
from figbuild.statedir import STATE_DIR, state_dir

FORMAT = 1
SENT_DIR = "sent"


@dataclass(frozen=True)
class SentPart:
    label: str
    spans: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Sent:
    """A request as it was (or would be) sent."""

    prompt: str
    options: dict[str, Any]
    parts: tuple[SentPart, ...]

    @classmethod
    def of(cls, request: Request) -> Sent:
        """``request``'s prompt, options and content; its parts must have their text."""
        body = request.body(with_content=False)
        options = {"type": body["type"], "model": body["model"], **body["options"]}
        parts = tuple(
            SentPart(part.label, tuple(map(str, part.spans)), part.text or "") for part in request.content
        )
        return cls(request.prompt, options, parts)


def _path(root: Path, fingerprint: str) -> Path:
    return root / STATE_DIR / SENT_DIR / f"{fingerprint.removeprefix('sha256:')}.json"


def record(root: Path, fingerprint: str, request: Request) -> None:
    """Keep what ``request`` (its content filled) sends, keyed by its ``fingerprint``.

    A record that cannot be written costs only a later ``diff``: never an error.
    """
    path = _path(root, fingerprint)
    if path.exists():
        return
    sent = Sent.of(request)
    document = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "prompt": sent.prompt,
        "options": sent.options,
        "content": [{"label": p.label, "spans": list(p.spans), "text": p.text} for p in sent.parts],
    }
    with contextlib.suppress(OSError):
        state_dir(root)
        atomic.write_bytes(path, json.dumps(document, indent=1, sort_keys=True).encode("utf-8"))


def load(root: Path, fingerprint: str) -> Sent | None:
    """What was recorded for ``fingerprint``, or None (never recorded, or unreadable)."""
    try:
        document = json.loads(_path(root, fingerprint).read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            return None
        parts = tuple(
            SentPart(str(p["label"]), tuple(map(str, p["spans"])), str(p["text"]))
            for p in document["content"]
        )
        return Sent(str(document["prompt"]), dict(document["options"]), parts)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
