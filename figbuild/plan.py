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
    #: Pending tasks of a skipped (modified) figure, collected only if their image is
    #: the very file at the output: what a run killed between writing an image and
    #: recording it leaves. A real hand edit is never overwritten.
    adopt: tuple[Pending, ...] = ()


NOTHING = Decision()


@dataclass(frozen=True)
class Plan:
    generate: tuple[FigureStatus, ...] = ()
    resume: tuple[tuple[FigureStatus, Pending], ...] = ()
    skipped: tuple[tuple[FigureStatus, str], ...] = ()
    adopt: tuple[tuple[FigureStatus, Pending], ...] = ()
    #: The backend's prices, which the plan's cost is counted in.
    terms: Terms = FREE

    def cost_of(self, status: FigureStatus) -> int:
        return self.terms.cost(status.resolved.request)

    @property
    def cost(self) -> int:
        return sum(self.cost_of(status) for status in self.generate)

    @property
    def empty(self) -> bool:
        return not self.generate and not self.resume and not self.adopt


def make_plan(statuses: Iterable[FigureStatus], *, force: bool, provisional: bool, terms: Terms) -> Plan:
    """The plan for ``statuses``; ``provisional`` for a backend whose images only stand in."""
    generate: list[FigureStatus] = []
    resume: list[tuple[FigureStatus, Pending]] = []
    skipped: list[tuple[FigureStatus, str]] = []
    adopt: list[tuple[FigureStatus, Pending]] = []
    for status in statuses:
        decision = decide(status, force=force, provisional=provisional)
        resume.extend((status, pending) for pending in decision.resume)
        adopt.extend((status, pending) for pending in decision.adopt)
        if decision.generate:
            generate.append(status)
        if decision.skip is not None:
            skipped.append((status, decision.skip))
    return Plan(tuple(generate), tuple(resume), tuple(skipped), tuple(adopt), terms)


def decide(status: FigureStatus, *, force: bool, provisional: bool) -> Decision:
    """What a sync does with one figure."""
    return for_provisional(status) if provisional else for_real(status, force=force)


def for_real(status: FigureStatus, *, force: bool) -> Decision:
    """Pending tasks are always collected, never resubmitted; a hand edit is kept unless forced."""
    state, pending = status.state, status.record.pending
    if state is State.MODIFIED and not force:
        if pending:
            return Decision(skip="modified by hand: its pending task is kept, not collected", adopt=pending)
        return Decision(skip="modified by hand; sync --force overwrites it")
    if state is State.FROZEN:
        return Decision(skip="frozen: true; unfreeze it to regenerate") if force else NOTHING
    # --force pays again only when no task for the current inputs is already paid for.
    paid = any(p.fingerprint == status.resolved.fingerprint.digest for p in pending)
    generate = state.outdated or (force and not paid)
    return Decision(resume=pending, generate=generate)


def for_provisional(status: FigureStatus) -> Decision:
    """Placeholders fill figures that have no real image, and only those."""
    generated = status.record.generated
    has_placeholder = generated is not None and generated.placeholder
    if status.record.pending:
        return Decision(skip="a paid task is pending; run sync without --placeholder")
    if status.state is State.MISSING:
        return Decision(generate=True)
    if status.state is State.STALE and has_placeholder:
        assert generated is not None
        # A placeholder drawn for these very inputs says nothing new when drawn again.
        return Decision(generate=generated.fingerprint != status.resolved.fingerprint.digest)
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
