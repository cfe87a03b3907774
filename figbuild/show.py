"""``show`` and ``diff``: what would be sent for a figure, and what changed since its image.

Both return lines for the CLI to print; neither sends nor writes anything.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

from figbuild import sent as sent_records
from figbuild.content import ContentReader
from figbuild.errors import UsageError
from figbuild.paper import Paper
from figbuild.request import CONTENT_SEPARATOR
from figbuild.sent import Sent

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


@dataclass(frozen=True)
class Shown:
    """Exactly what a sync would send for one figure, with where the content came from."""

    figure_id: str
    sent: Sent
    warnings: tuple[str, ...] = ()

    @property
    def content_length(self) -> int:
        return len(CONTENT_SEPARATOR.join(part.text for part in self.sent.parts))


def show(paper: Paper, figure_id: str) -> Shown:
    """What would be sent for ``figure_id`` now (content read from the files)."""
    (resolved,) = paper.resolve((figure_id,))
    request = ContentReader(paper.root).filled(resolved.request)
    warnings = tuple(warning for part in request.content for warning in part.warnings)
    return Shown(figure_id, Sent.of(request), warnings)


def show_lines(shown: Shown) -> list[str]:
    """``show`` for a person: prompt, options, then each part under its source lines."""
    sent = shown.sent
    lines = [f"figure {shown.figure_id}", "", "prompt:"]
    lines.extend(f"  {line}" for line in sent.prompt.splitlines() or [""])
    lines.append("")
    lines.append("options: " + ", ".join(f"{key}={value}" for key, value in sent.options.items()))
    count = len(sent.parts)
    if not count:
        lines.append("content: none")
    else:
        lines.append(f"content: {count} part{'s' if count != 1 else ''}, {shown.content_length:,} characters")
    for index, part in enumerate(sent.parts, 1):
        where = ", ".join(part.spans) or "no lines"
        lines.append("")
        lines.append(f"--- part {index}: {part.label} ({where})")
        lines.extend(part.text.splitlines() or ["(empty)"])
    lines.extend(f"warning: {warning}" for warning in shown.warnings)
    return lines


def show_json(shown: Shown) -> list[str]:
    """``show`` as one JSON object."""
    sent = shown.sent
    document = {
        "id": shown.figure_id,
        "prompt": sent.prompt,
        "options": sent.options,
        "content": [{"label": p.label, "sources": list(p.spans), "text": p.text} for p in sent.parts],
        "content_length": shown.content_length,
        "warnings": list(shown.warnings),
    }
    return [json.dumps(document, indent=2, ensure_ascii=False)]


def diff(paper: Paper, figure_id: str) -> list[str]:
    """A unified diff of prompt, options and content: the current image's request
    against what would be sent now. Empty when nothing changed."""
    now = show(paper, figure_id)
    generated = paper.read_lock().record(figure_id).generated
    if generated is None:
        raise UsageError(
            f"figure '{figure_id}' has no image made by figbuild yet, so there is nothing to compare",
            hint=f"`figbuild show {figure_id}` prints what a sync would send",
        )
    before = sent_records.load(paper.root, generated.fingerprint)
    if before is None:
        raise UsageError(
            f"figbuild has no record of what figure '{figure_id}' was made from (made before "
            "figbuild kept one, on another clone, or .figbuild/ was cleared)",
            hint=f"`figbuild show {figure_id}` prints what a sync would send",
        )
    made = f"{figure_id} (image of {generated.generated_at})"
    return list(
        difflib.unified_diff(_diffable(before), _diffable(now.sent), made, f"{figure_id} (now)", lineterm="")
    )


def _diffable(sent: Sent) -> list[str]:
    """A request as lines that diff well: one sentence of prose per line."""
    lines = ["prompt:", *sent.prompt.splitlines()]
    lines.extend(f"option {key}: {value}" for key, value in sorted(sent.options.items()))
    for part in sent.parts:
        lines.append(f"content {part.label}:")
        for paragraph in part.text.split("\n\n"):
            for line in paragraph.splitlines():
                lines.extend(_SENTENCE_END.split(line))
            lines.append("")
    return lines
