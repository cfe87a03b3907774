"""What the gallery shows, as plain frozen data built from a paper, its statuses and its history.

Nothing here renders or writes: :mod:`.site` turns a :class:`Gallery` into pages.
Images are named by sha256 and the file their bytes can be read from (the output
on disk or a stored object), so the site can thumbnail each distinct image once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from figbuild.lockfile import Generated, Lock, Pending
from figbuild.state import FigureStatus

#: Characters of the prompt used in an image's alt text.
EXCERPT = 80


@dataclass(frozen=True)
class Image:
    """An image by content: its bytes are at ``path`` and hash to ``sha256``."""

    sha256: str
    path: Path
    suffix: str  # ".png", ".jpg", ".pdf"


@dataclass(frozen=True)
class Version:
    """One image the figure has had (or could have): the store's record of it."""

    number: int  # 1 = the oldest, as `figbuild log` numbers them
    when: str
    how: str  # generated, candidate, restored, accepted, hand-edit, placeholder, emulator, …
    image: Image | None  # None when its bytes are gone (trimmed, missing)
    task_id: str | None = None
    credits: int = 0
    model: str | None = None
    resolution: str | None = None
    candidate: int | None = None  # K of `figbuild pick ID K`, for a candidate of the current request
    changed: str = ""
    #: Made for exactly the request the figure stands for now.
    for_current_inputs: bool = False
    #: Its bytes are the ones in the output file now.
    current: bool = False
    #: Later copies of the same bytes (restored, accepted, picked again), "how when", oldest first.
    copies: tuple[str, ...] = ()
    #: The number of the image's first entry (``number`` is its latest copy's), as `log` numbers them.
    first_number: int | None = None


@dataclass(frozen=True)
class Source:
    """One part of the content sent with the figure's request."""

    label: str
    file: str
    section: str | None
    length: int
    #: The exact text of this part, as sent (None when it could not be read).
    text: str | None = None


@dataclass(frozen=True)
class Task:
    task_id: str | None
    submitted_at: str
    credits: int
    #: Submitted for the figure's current request (else for an older one).
    current: bool


@dataclass(frozen=True)
class Provenance:
    """How the image on disk came to be, as the AI-usage statement tells it."""

    #: "generated" (the API made it, or it is a hand edit of such an image), or what
    #: stands in: "placeholder", "emulator", "missing", "other" (not made by the API).
    kind: str
    text: str  # e.g. "candidate 2 of 3 generated for it"
    model: str | None = None
    task_id: str | None = None
    when: str | None = None
    #: IPTC's digital source type (its last word: trainedAlgorithmicMedia, …), if any.
    source_type: str | None = None


@dataclass(frozen=True)
class Card:
    id: str
    state: str
    reasons: tuple[str, ...]
    output: str
    prompt: str
    mode: str
    model: str
    resolution: str
    aspect_ratio: str
    image_input: tuple[str, ...]
    #: What generating it (again) would cost, per image.
    cost: int
    #: Credits the figure has cost so far (the ledger's figure line).
    spent: int
    image: Image | None  # the output file now on disk
    sources: tuple[Source, ...]
    versions: tuple[Version, ...]  # newest first
    pending: tuple[Task, ...]
    frozen: bool = False
    #: What a sync of this figure would cost now (the plan's count, as `status` shows it).
    sync_cost: int = 0
    #: Whether a sync of this figure would do anything (generate, restore, record, collect).
    needs_sync: bool = False
    provenance: Provenance | None = None

    @property
    def excerpt(self) -> str:
        """The prompt's first words: with the id, the image's alt text."""
        text = " ".join(self.prompt.split())
        return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"

    @property
    def alt(self) -> str:
        return f"{self.id}: {self.excerpt}"

    @property
    def candidates(self) -> tuple[Version, ...]:
        """Candidates made for the current request, by their number K."""
        found = [v for v in self.versions if v.candidate is not None and v.for_current_inputs]
        return tuple(sorted(found, key=lambda v: v.candidate or 0))

    @property
    def content_length(self) -> int:
        return sum(source.length for source in self.sources)


@dataclass(frozen=True)
class Ledger:
    """Credits spent: per figure, per month (``YYYY-MM``, UTC) and in total."""

    by_figure: Mapping[str, int] = field(default_factory=dict)
    by_month: Mapping[str, int] = field(default_factory=dict)
    total: int = 0
    #: Credits the emulator (or a placeholder run) only pretended to charge: shown apart.
    pretend: int = 0


@dataclass(frozen=True)
class Gallery:
    title: str
    root: Path
    made_at: str
    cards: tuple[Card, ...]
    ledger: Ledger
    #: Credits left on the key, when a key is set and the API answered.
    balance: int | None = None
    #: Why the balance is not shown, when a key is set but it could not be read.
    balance_note: str | None = None
    #: What was worked around while reading the history (a damaged index line, a missing object).
    notes: tuple[str, ...] = ()
    #: Figures the lock records that the manifest no longer has, with their outputs.
    orphans: Mapping[str, str] = field(default_factory=dict)
    #: The AI-usage statement (`figbuild disclose`, as Markdown), and its file's state.
    disclosure: str | None = None
    disclosure_file: str | None = None
    disclosure_state: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for card in self.cards:
            counts[card.state] = counts.get(card.state, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def cost(self) -> int:
        """What a sync of every figure would cost: the plan's count, as `status` shows it."""
        return sum(card.sync_cost for card in self.cards)

    def images(self) -> list[Image]:
        """Every distinct image shown, once each."""
        seen: dict[str, Image] = {}
        for card in self.cards:
            for image in (card.image, *(v.image for v in card.versions)):
                if image is not None and image.sha256 not in seen:
                    seen[image.sha256] = image
        return list(seen.values())


class History(Protocol):
    """Where a figure's earlier images are kept (the store); the lock alone is the fallback."""

    def versions(self, status: FigureStatus, current_sha256: str | None) -> Sequence[Version]:
        """The figure's versions, newest first."""

    def ledger(self, lock: Lock) -> Ledger:
        """The credit ledger over everything recorded."""


class LockHistory:
    """A history with only what ``figures.lock`` knows: the image figbuild last wrote."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self, status: FigureStatus, current_sha256: str | None) -> Sequence[Version]:
        generated = status.record.generated
        if generated is None:
            return ()
        present = current_sha256 == generated.sha256
        image = Image(generated.sha256, self.root / generated.output, Path(generated.output).suffix.lower())
        return (
            Version(
                number=1,
                when=generated.generated_at,
                how=how_of(generated),
                image=image if present else None,
                task_id=generated.task_id,
                credits=generated.credits,
                model=generated.model,
                resolution=generated.resolution,
                for_current_inputs=generated.fingerprint == status.resolved.fingerprint.digest,
                current=present,
            ),
        )

    def ledger(self, lock: Lock) -> Ledger:
        return ledger_of(_charges(lock))


def how_of(generated: Generated) -> str:
    if generated.provisional:
        return generated.how
    return "generated" if generated.task_id else "written"


def _charges(lock: Lock) -> Iterable[tuple[str, str, int, str | None, bool]]:
    """(figure, when, credits, task, pretend) of every charge the lock records, pending ones too."""
    for figure_id, record in lock.figures.items():
        if record.generated is not None:
            g = record.generated
            yield figure_id, g.generated_at, g.credits, g.task_id, g.provisional
        for pending in record.pending:
            yield figure_id, pending.submitted_at, pending.credits, pending.task_id, False


def ledger_of(charges: Iterable[tuple[str, str, int, str | None, bool]]) -> Ledger:
    """Sum charges, each remote task once; a stand-in's credits are only pretended."""
    by_figure: dict[str, int] = {}
    by_month: dict[str, int] = {}
    tasks: set[str] = set()
    pretend = 0
    for figure_id, when, credits, task_id, stand_in in charges:
        if not credits or (task_id is not None and task_id in tasks):
            continue
        if task_id is not None:
            tasks.add(task_id)
        if stand_in:
            pretend += credits
            continue
        by_figure[figure_id] = by_figure.get(figure_id, 0) + credits
        by_month[when[:7]] = by_month.get(when[:7], 0) + credits
    return Ledger(
        dict(sorted(by_figure.items())), dict(sorted(by_month.items())), sum(by_figure.values()), pretend
    )


def task_of(pending: Pending, status: FigureStatus) -> Task:
    current = pending.fingerprint == status.resolved.fingerprint.digest
    return Task(pending.task_id, pending.submitted_at, pending.credits, current)


def card(
    status: FigureStatus,
    current_sha256: str | None,
    root: Path,
    history: History,
    spent: int,
    texts: Mapping[str, str | None] | None = None,
    sync_cost: int = 0,
    needs_sync: bool = False,
    provenance: Provenance | None = None,
) -> Card:
    """One figure's card. ``texts`` maps content part labels to the text sent."""
    figure, request = status.resolved.figure, status.resolved.request
    image = None
    if current_sha256 is not None:
        image = Image(current_sha256, root / figure.output, Path(figure.output).suffix.lower())
    texts = texts or {}
    return Card(
        id=figure.id,
        state=status.state.value,
        reasons=status.reasons,
        output=figure.output,
        prompt=request.prompt,
        mode=request.type,
        model=request.model,
        resolution=request.resolution,
        aspect_ratio=request.aspect_ratio,
        image_input=request.image_input,
        cost=status.resolved.cost,
        spent=spent,
        image=image,
        sources=tuple(
            Source(part.label, part.file, part.section, part.length, texts.get(part.label))
            for part in request.content
        ),
        versions=tuple(history.versions(status, current_sha256)),
        pending=tuple(task_of(p, status) for p in status.record.pending),
        frozen=figure.frozen,
        sync_cost=sync_cost,
        needs_sync=needs_sync,
        provenance=provenance,
    )
