"""What a sync does with each figure: pure decisions from the figures' states.

:func:`decide` is the one place that turns a state into an action; the engine
only carries the :class:`Plan` out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from figbuild.errors import BudgetExceeded
from figbuild.lockfile import Pending
from figbuild.request import FREE, Terms
from figbuild.state import FigureStatus, State


@dataclass(frozen=True)
class Decision:
    """What to do with one figure: collect its pending tasks, generate it, or skip it (why)."""

    resume: tuple[Pending, ...] = ()
    generate: bool = False
    skip: str | None = None


NOTHING = Decision()


@dataclass(frozen=True)
class Plan:
    generate: tuple[FigureStatus, ...] = ()
    resume: tuple[tuple[FigureStatus, Pending], ...] = ()
    skipped: tuple[tuple[FigureStatus, str], ...] = ()
    #: The backend's prices, which the plan's cost is counted in.
    terms: Terms = FREE

    def cost_of(self, status: FigureStatus) -> int:
        return self.terms.cost(status.resolved.request)

    @property
    def cost(self) -> int:
        return sum(self.cost_of(status) for status in self.generate)

    @property
    def empty(self) -> bool:
        return not self.generate and not self.resume


#: Stand-in images by how much of the real path made them: a later kind replaces an earlier.
PROVISIONAL_RANK = {"placeholder": 0, "emulator": 1}


def make_plan(
    statuses: Iterable[FigureStatus],
    *,
    force: bool,
    provisional: bool,
    terms: Terms,
    kind: str = "placeholder",
) -> Plan:
    """The plan for ``statuses``; ``provisional`` for a backend whose images only stand
    in, recorded as ``kind`` ("placeholder", "emulator")."""
    generate: list[FigureStatus] = []
    resume: list[tuple[FigureStatus, Pending]] = []
    skipped: list[tuple[FigureStatus, str]] = []
    for status in statuses:
        decision = decide(status, force=force, provisional=provisional, kind=kind)
        resume.extend((status, pending) for pending in decision.resume)
        if decision.generate:
            generate.append(status)
        if decision.skip is not None:
            skipped.append((status, decision.skip))
    return Plan(tuple(generate), tuple(resume), tuple(skipped), terms)


def decide(status: FigureStatus, *, force: bool, provisional: bool, kind: str = "placeholder") -> Decision:
    """What a sync does with one figure."""
    return for_provisional(status, kind) if provisional else for_real(status, force=force)


def for_real(status: FigureStatus, *, force: bool) -> Decision:
    """Pending tasks are always collected, never resubmitted; a hand edit is kept unless forced."""
    state, pending = status.state, status.record.pending
    if state is State.MODIFIED and not force:
        if pending:
            return Decision(skip="modified by hand: its pending task is kept, not collected")
        return Decision(skip="modified by hand; sync --force overwrites it")
    if state is State.FROZEN:
        return Decision(skip="frozen: true; unfreeze it to regenerate") if force else NOTHING
    generate = state.outdated or (force and state is not State.PENDING)
    return Decision(resume=pending, generate=generate)


def for_provisional(status: FigureStatus, kind: str = "placeholder") -> Decision:
    """Placeholders fill figures that have no real image, and only those; an emulator
    image (``kind``) also replaces a placeholder, never the reverse."""
    generated = status.record.generated
    has_placeholder = generated is not None and generated.placeholder
    if status.record.pending:
        return Decision(skip="a paid task is pending; run sync without --placeholder")
    if status.state is State.MISSING:
        return Decision(generate=True)
    if status.state is State.STALE and has_placeholder:
        assert generated is not None
        # A stand-in drawn for these very inputs says nothing new when drawn again,
        # unless this backend's kind goes further down the real path.
        drawn = PROVISIONAL_RANK.get(generated.provisional or "placeholder", 0)
        further = PROVISIONAL_RANK.get(kind, 0) > drawn
        return Decision(generate=further or generated.fingerprint != status.resolved.fingerprint.digest)
    if status.state in (State.MODIFIED, State.STALE):
        return Decision(skip="has a real image; placeholders never replace one")
    return NOTHING


def check_budget(plan: Plan, max_credits: int | None, balance: int | None) -> None:
    """Refuse a plan over ``max_credits`` or the ``balance`` (None: not known) before anything is sent."""
    if max_credits is not None and plan.cost > max_credits:
        raise BudgetExceeded(
            f"the plan costs {plan.cost} credits, more than --max-credits {max_credits}; nothing was sent",
            hint="raise --max-credits, or sync fewer figures by naming them",
        )
    if balance is not None and plan.cost > balance:
        raise BudgetExceeded(
            f"the plan costs {plan.cost} credits but only {balance} remain; nothing was sent",
            hint="top up the Team plan's credits, or sync fewer figures",
        )
