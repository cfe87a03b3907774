"""What a sync does with each figure: pure decisions from the figures' states.

:func:`decide` is the one place that turns a state into an action; the engine
only carries the :class:`Plan` out. Restoring an image already made for the exact
request comes before paying for a new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field

from figbuild.errors import BudgetExceeded, CapExceeded
from figbuild.lockfile import Pending
from figbuild.records import frozen
from figbuild.request import FREE, Terms
from figbuild.state import FigureStatus, State
from figbuild.store import Entry


@frozen
class Source:
    """An image already made for a figure's exact current request: putting it in place
    costs nothing. It is in the history store (``entry``) or in the paper at ``path``
    (another figure's or an old output whose bytes the lock records)."""

    sha256: str
    entry: Entry | None = None
    path: str | None = None
    #: The machine that made it, when it came from the team's remote store.
    team: str | None = None

    def describe(self) -> str:
        if self.entry is not None and self.team is not None:
            return f"from the team store ({self.entry.how.value} on {self.team}, {self.entry.when})"
        if self.entry is not None:
            return f"from history ({self.entry.how.value} {self.entry.when})"
        return f"from {self.path}"


@frozen
class Decision:
    """What to do with one figure: collect its pending tasks, restore or generate it,
    record the image already there (adopt), or skip it (why)."""

    resume: tuple[Pending, ...] = ()
    generate: bool = False
    restore: Source | None = None
    adopt: bool = False
    skip: str | None = None
    #: Pending tasks of a skipped (modified) figure, collected only if their image is
    #: the very file at the output: what a run killed between writing an image and
    #: recording it leaves. A real hand edit is never overwritten.
    reclaim: tuple[Pending, ...] = ()


NOTHING = Decision()

#: Stand-ins, lesser first: a rehearsal through the emulator replaces a placeholder.
_STAND_INS = ("placeholder", "emulator")


@frozen
class Plan:
    generate: tuple[FigureStatus, ...] = ()
    resume: tuple[tuple[FigureStatus, Pending], ...] = ()
    skipped: tuple[tuple[FigureStatus, str], ...] = ()
    #: The backend's prices, which the plan's cost is counted in.
    terms: Terms = FREE
    restore: tuple[tuple[FigureStatus, Source], ...] = ()
    adopt: tuple[FigureStatus, ...] = ()
    #: Images per request, by figure id (``candidates: N``); 1 when absent.
    candidates: Mapping[str, int] = field(default_factory=dict)
    #: Pending tasks whose image may be the file already at the output (see Decision).
    reclaim: tuple[tuple[FigureStatus, Pending], ...] = ()
    #: Candidates still missing (their numbers K), by figure id, for figures whose image
    #: is in place (or restored) but that want more ``candidates:`` than history keeps:
    #: generated into history only, the image in place stays.
    topup: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def count(self, status: FigureStatus) -> int:
        """How many images (and tasks) the figure's request is generated as."""
        return len(self.numbers(status))

    def numbers(self, status: FigureStatus) -> tuple[int | None, ...]:
        """The candidate number of each image to generate for the figure (None: the only one)."""
        if status.id in self.topup:
            return self.topup[status.id]
        count = self.candidates.get(status.id, 1)
        return tuple(range(1, count + 1)) if count > 1 else (None,)

    def cost_of(self, status: FigureStatus) -> int:
        return self.terms.cost(status.resolved.request) * self.count(status)

    @property
    def cost(self) -> int:
        return sum(self.cost_of(status) for status in self.generate)

    def costs(self) -> dict[str, int]:
        """What the plan spends on each figure it generates, by id: the one count of
        credits ``status``, ``sync --dry-run`` (text and JSON) and the gallery show."""
        return {status.id: self.cost_of(status) for status in self.generate}

    def acts_on(self, figure_id: str) -> bool:
        """Whether carrying the plan out does anything for the figure."""
        ids = [s.id for s in (*self.generate, *self.adopt)]
        ids += [s.id for s, _ in (*self.restore, *self.resume, *self.reclaim)]
        return figure_id in ids

    def sources(self) -> dict[str, Source]:
        """The figures put back from history for 0 credits, by id."""
        return {status.id: source for status, source in self.restore}

    @property
    def empty(self) -> bool:
        return not (self.generate or self.resume or self.restore or self.adopt or self.reclaim)


def make_plan(
    statuses: Iterable[FigureStatus],
    *,
    force: bool,
    provisional: bool,
    terms: Terms,
    sources: Mapping[str, Source] | None = None,
    candidates: int | None = None,
    makes: str = "placeholder",
    kept: Mapping[str, frozenset[int]] | None = None,
) -> Plan:
    """The plan for ``statuses``; ``provisional`` for a backend whose images only stand in.

    ``sources`` are images already made for a figure's current request, by figure id;
    ``candidates`` overrides each figure's ``candidates:`` for this run; ``makes`` is
    what a provisional backend's images are; ``kept`` holds, by figure id, the numbers
    of the candidates history keeps for its current request (N wanted, k kept: the
    N - k missing ones are generated).
    """
    sources = sources or {}
    kept = kept or {}
    topup: dict[str, tuple[int, ...]] = {}
    generate: list[FigureStatus] = []
    resume: list[tuple[FigureStatus, Pending]] = []
    skipped: list[tuple[FigureStatus, str]] = []
    restore: list[tuple[FigureStatus, Source]] = []
    adopt: list[FigureStatus] = []
    counts: dict[str, int] = {}
    reclaim: list[tuple[FigureStatus, Pending]] = []
    for status in statuses:
        decision = decide(
            status, force=force, provisional=provisional, source=sources.get(status.id), makes=makes
        )
        resume.extend((status, pending) for pending in decision.resume)
        reclaim.extend((status, pending) for pending in decision.reclaim)
        wanted = candidates or status.resolved.figure.candidates
        if decision.generate:
            generate.append(status)
            if wanted != 1 and not provisional:
                counts[status.id] = wanted
        elif wanted > 1 and not provisional and not force and _in_place(status, decision):
            missing = missing_candidates(wanted, kept.get(status.id, frozenset()))
            if missing:
                generate.append(status)
                topup[status.id] = missing
        if decision.restore is not None:
            restore.append((status, decision.restore))
        if decision.adopt:
            adopt.append(status)
        if decision.skip is not None:
            skipped.append((status, decision.skip))
    return Plan(
        generate=tuple(generate),
        resume=tuple(resume),
        skipped=tuple(skipped),
        terms=terms,
        restore=tuple(restore),
        adopt=tuple(adopt),
        candidates=counts,
        reclaim=tuple(reclaim),
        topup=topup,
    )


def _in_place(status: FigureStatus, decision: Decision) -> bool:
    """Whether, after this decision, the figure holds an image of its current request."""
    if decision.skip is not None or status.record.pending:
        return False
    return decision.restore is not None or decision.adopt or status.state is State.FRESH


def missing_candidates(wanted: int, kept: frozenset[int]) -> tuple[int, ...]:
    """The numbers of the ``wanted - len(kept)`` candidates to make, lowest free first."""
    free = [number for number in range(1, wanted + len(kept) + 1) if number not in kept]
    return tuple(free[: max(0, wanted - len(kept))])


def decide(
    status: FigureStatus,
    *,
    force: bool,
    provisional: bool,
    source: Source | None = None,
    makes: str = "placeholder",
) -> Decision:
    """What a sync does with one figure."""
    if provisional:
        return for_provisional(status, source, makes)
    return for_real(status, force=force, source=source)


def for_real(status: FigureStatus, *, force: bool, source: Source | None = None) -> Decision:
    """Pending tasks are always collected, never resubmitted; a hand edit is kept unless
    forced; an image already made for the request is put back before anything is paid."""
    state, pending = status.state, status.record.pending
    if state is State.MODIFIED and not force:
        if pending:
            return Decision(skip="modified by hand: its pending task is kept, not collected", reclaim=pending)
        return Decision(skip="modified by hand; sync --force overwrites it")
    if state is State.FROZEN:
        return Decision(skip="frozen: true; unfreeze it to regenerate") if force else NOTHING
    if state.outdated and source is not None and not force:
        return Decision(resume=pending, restore=source)
    if status.adopt and not force:
        return Decision(resume=pending, adopt=True)
    # --force pays again only when no task for the current inputs is already paid for.
    paid = any(p.fingerprint == status.resolved.fingerprint.digest for p in pending)
    generate = state.outdated or (force and not paid)
    return Decision(resume=pending, generate=generate)


def for_provisional(
    status: FigureStatus, source: Source | None = None, makes: str = "placeholder"
) -> Decision:
    """Placeholders fill figures that have no real image, and only those; a real image
    already made for the request is better still, and costs nothing too."""
    generated = status.record.generated
    has_provisional = generated is not None and generated.provisional
    if status.record.pending:
        return Decision(skip="a paid task is pending; run sync without --placeholder")
    if source is not None and (
        status.state is State.MISSING or (status.state is State.STALE and has_provisional)
    ):
        return Decision(restore=source)
    if status.adopt:
        return Decision(adopt=True)
    if status.state is State.MISSING:
        return Decision(generate=True)
    if status.state is State.STALE and has_provisional:
        assert generated is not None
        # A stand-in drawn for these very inputs says nothing new when drawn again,
        # unless it is a lesser one (a placeholder, when the emulator is asked).
        lesser = makes in _STAND_INS and _STAND_INS.index(generated.how) < _STAND_INS.index(makes)
        current = status.resolved.fingerprint
        return Decision(generate=not current.made_by(generated.fingerprint, generated.parts) or lesser)
    if status.state in (State.MODIFIED, State.STALE):
        return Decision(skip="has a real image; placeholders never replace one")
    return NOTHING


def check_budget(plan: Plan, max_credits: int | None, balance: int | None) -> None:
    """Refuse a plan over ``max_credits`` or the ``balance`` (None: not known) before anything is sent."""
    if max_credits is not None and plan.cost > max_credits:
        raise CapExceeded(
            f"the plan costs {plan.cost} credits, more than --max-credits {max_credits}; nothing was sent",
            hint="raise --max-credits, or sync fewer figures by naming them",
        )
    if balance is not None and plan.cost > balance:
        raise BudgetExceeded(
            f"the plan costs {plan.cost} credits but only {balance} remain; nothing was sent",
            hint="top up the Team plan's credits, or sync fewer figures",
        )
