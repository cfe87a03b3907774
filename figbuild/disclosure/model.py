"""What the AI-usage statement says: each figure's current image, and how it came to be.

Read from the lock (the figure's recorded image), the image itself (the provenance
figbuild wrote into it) and the history store (the API's images by hash, the
candidates of a request). Placeholders and emulator images are never listed as
generated: they are named apart, so that ``disclose`` can warn about them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figbuild import __version__, provenance
from figbuild.lockfile import Generated, Lock
from figbuild.manifest import Manifest
from figbuild.provenance import Provenance
from figbuild.store import Entry, How, Store

SERVICE_URL = "https://paperbanana.run"

#: How an image came to be, in the statement's words (see :func:`Item.how_text`).
GENERATED, CANDIDATE, RESTORED, ACCEPTED, ACCEPTED_EDIT, HAND_EDIT = (
    "generated",
    "candidate",
    "restored",
    "accepted",
    "accepted hand edit",
    "hand edit kept",
)


@dataclass(frozen=True)
class Item:
    """One figure whose current image the API made (or is a hand edit of one)."""

    id: str
    output: str
    model: str | None
    mode: str
    resolution: str | None
    when: str | None
    how: str
    task_id: str | None = None
    candidate: int | None = None
    candidates: int | None = None
    source_type: str = provenance.TRAINED

    @property
    def edited(self) -> bool:
        return self.how in (ACCEPTED_EDIT, HAND_EDIT)

    @property
    def how_text(self) -> str:
        """How it was made, as a clause of the statement."""
        if self.how == CANDIDATE and self.candidate is not None:
            of = f" of {self.candidates}" if self.candidates else ""
            return f"candidate {self.candidate}{of} generated for it"
        return {
            GENERATED: "generated",
            CANDIDATE: "one of several candidates generated for it",
            RESTORED: "generated, then restored from the figure's history",
            ACCEPTED: "generated, then accepted as is by the authors",
            ACCEPTED_EDIT: "generated, then edited by hand and accepted by the authors",
            HAND_EDIT: "generated, then edited by hand",
        }[self.how]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "output": self.output,
            "model": self.model,
            "mode": self.mode,
            "resolution": self.resolution,
            "generated_at": self.when,
            "how": self.how,
            "how_text": self.how_text,
            "task_id": self.task_id,
            "candidate": self.candidate,
            "candidates": self.candidates,
            "edited": self.edited,
            "digital_source_type": self.source_type,
        }


@dataclass(frozen=True)
class StandIn:
    """A figure whose image only stands in (a placeholder, an emulator image), or that
    has none, or whose image the API did not make."""

    id: str
    output: str
    what: str  # placeholder, emulator, missing, other

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "output": self.output, "image": self.what}


_WHAT = {"placeholder": "placeholder", "emulator": "emulator image"}


@dataclass(frozen=True)
class Statement:
    figures: tuple[Item, ...]
    stand_ins: tuple[StandIn, ...]
    version: str = __version__
    service: str = provenance.SERVICE
    service_url: str = SERVICE_URL

    @property
    def provisional(self) -> tuple[StandIn, ...]:
        """Placeholders and emulator images: a paper with them is not ready."""
        return tuple(s for s in self.stand_ins if s.what in provenance.PROVISIONAL)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.model for item in self.figures if item.model))

    def warnings(self) -> list[str]:
        """What ``disclose`` warns about: figures that are not listed though they will be."""
        lines = []
        if self.provisional:
            named = ", ".join(
                f"{s.id} ({'emulator image' if s.what == 'emulator' else s.what})" for s in self.provisional
            )
            lines.append(
                f"not listed as generated, since their images only stand in: {named}; "
                "a paper with them is not ready (run `figbuild sync`)"
            )
        missing = [s.id for s in self.stand_ins if s.what == "missing"]
        if missing:
            lines.append(f"no image yet, so not listed: {', '.join(missing)}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "figbuild": self.version,
            "service": self.service,
            "service_url": self.service_url,
            "models": list(self.models),
            "figures": [item.as_dict() for item in self.figures],
            "not_generated": [s.as_dict() for s in self.stand_ins],
        }


def gather(
    manifest: Manifest, lock: Lock, on_disk: Mapping[str, str | None], store: Store | None
) -> Statement:
    """The statement's facts for every figure of the manifest, in manifest order.

    ``on_disk``: each figure's output sha256 (None when absent).
    """
    entries = _Entries(store)
    items: list[Item] = []
    stand_ins: list[StandIn] = []
    for figure in manifest.figures:
        record = lock.record(figure.id).generated
        sha = on_disk.get(figure.id)
        if record is None or sha is None:
            stand_ins.append(StandIn(figure.id, figure.output, "missing"))
            continue
        found = provenance.read_file(manifest.root / figure.output)
        made = _item(figure.id, figure.output, figure.mode, record, sha, found, entries)
        if isinstance(made, Item) and made.how == CANDIDATE:
            fingerprint = (found.fingerprint if found else None) or record.fingerprint
            made = _with_count(made, entries.candidates(fingerprint) or figure.candidates)
        (items if isinstance(made, Item) else stand_ins).append(made)  # type: ignore[arg-type]
    return Statement(tuple(items), tuple(stand_ins))


def _with_count(item: Item, count: int) -> Item:
    from dataclasses import replace

    return replace(item, candidates=max(count, item.candidate or 0) or None)


def _item(
    figure_id: str,
    output: str,
    mode: str,
    record: Generated,
    sha: str,
    found: Provenance | None,
    entries: _Entries,
) -> Item | StandIn:
    """How the image now at the figure's output came to be."""
    edited = sha != record.sha256
    mode = record.parts.get("type", mode)
    if found is not None:
        if found.provisional:
            return StandIn(figure_id, output, found.how)
        assert found.source_type is not None
        unmodified = entries.made_by_api(sha)
        if edited:
            how = HAND_EDIT
        elif record.how == How.ACCEPTED.value:
            how = ACCEPTED if unmodified and found.how != "composite" else ACCEPTED_EDIT
        elif record.how == How.RESTORED.value:
            how = RESTORED if found.how != "composite" else ACCEPTED_EDIT
        elif found.how == "candidate" or record.how == How.CANDIDATE.value:
            how = CANDIDATE
        else:
            how = GENERATED
        return Item(
            figure_id,
            output,
            found.model or record.model,
            mode,
            found.resolution or record.resolution,
            found.generated_at,
            how,
            found.task_id,
            found.candidate if how == CANDIDATE else None,
            source_type=provenance.COMPOSITE if how in (ACCEPTED_EDIT, HAND_EDIT) else found.source_type,
        )
    # No provenance in the file: an image from before figbuild stamped them, or a hand
    # edit whose editor dropped it. The lock and the store say what they can.
    if record.provisional:
        return StandIn(figure_id, output, "other" if edited else record.how)
    origin = entries.api_image(sha)
    if edited or record.how == How.ACCEPTED.value:
        source = origin if origin is not None and not edited else entries.previous_api_image(figure_id)
        if source is None and record.model is None:
            return StandIn(figure_id, output, "other")  # nothing says the API made it
        how = HAND_EDIT if edited else (ACCEPTED if origin is not None else ACCEPTED_EDIT)
        return _from(figure_id, output, mode, how, record, source)
    if record.how == How.RESTORED.value:
        if origin is None and record.model is None:
            return StandIn(figure_id, output, "other")
        return _from(figure_id, output, mode, RESTORED, record, origin)
    how = CANDIDATE if record.how == How.CANDIDATE.value else GENERATED
    item = _from(figure_id, output, mode, how, record, origin)
    return item if origin is not None else _replace_when(item, record.generated_at)


def _from(figure_id: str, output: str, mode: str, how: str, record: Generated, entry: Entry | None) -> Item:
    """An item from the lock's record and, where there is one, the API image it is (or was made from)."""
    return Item(
        figure_id,
        output,
        (entry.model if entry else None) or record.model,
        mode,
        (entry.resolution if entry else None) or record.resolution,
        entry.when if entry else None,
        how,
        (entry.task_id if entry else None) or record.task_id,
        ((entry.candidate if entry else None) or record.candidate) if how == CANDIDATE else None,
        source_type=provenance.COMPOSITE if how in (ACCEPTED_EDIT, HAND_EDIT) else provenance.TRAINED,
    )


def _replace_when(item: Item, when: str) -> Item:
    from dataclasses import replace

    return replace(item, when=when)


class _Entries:
    """The store's entries, read once and only when a figure needs them."""

    def __init__(self, store: Store | None) -> None:
        self._store = store
        self._entries: Sequence[Entry] | None = None

    @property
    def all(self) -> Sequence[Entry]:
        if self._entries is None:
            self._entries = self._store.entries() if self._store is not None else []
        return self._entries

    def api_image(self, sha: str) -> Entry | None:
        """The oldest entry of the API's image with these bytes."""
        made = [e for e in self.all if e.sha256 == sha and e.how in (How.GENERATED, How.CANDIDATE)]
        return min(made, key=lambda e: e.order) if made else None

    def made_by_api(self, sha: str) -> bool:
        return self.api_image(sha) is not None

    def previous_api_image(self, figure_id: str) -> Entry | None:
        """The figure's newest image the API made (the one a hand edit was most likely made from)."""
        paper = self._store.paper if self._store is not None else None
        made = [
            e
            for e in self.all
            if e.figure == figure_id and e.paper == paper and e.how in (How.GENERATED, How.CANDIDATE)
        ]
        return max(made, key=lambda e: e.order) if made else None

    def candidates(self, fingerprint: str) -> int:
        """How many candidates the store holds for one request."""
        return len({e.candidate for e in self.all if e.fingerprint == fingerprint and e.how is How.CANDIDATE})


def on_disk(root: Path, manifest: Manifest) -> dict[str, str | None]:
    """Each figure's output sha256, None when the file is absent."""
    from figbuild.digests import sha256_file

    return {figure.id: sha256_file(root / figure.output) for figure in manifest.figures}
