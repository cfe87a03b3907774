"""The plan: what a sync does with each figure, as pure functions of the figures' states."""

from __future__ import annotations

import pytest

from figbuild.backends.paperbanana.terms import TERMS
from figbuild.errors import BudgetExceeded
from figbuild.lockfile import Record
from figbuild.plan import Decision, Plan, check_budget, decide, for_provisional, for_real, make_plan
from figbuild.request import FREE
from figbuild.state import classify
from tests.test_state import FILE_SHA, _generated, _pending, _resolved


def _plan(state_of: dict[str, tuple[Record, str | None]], **options: bool):  # type: ignore[no-untyped-def]
    statuses = [classify(resolved, record, sha) for resolved, (record, sha) in state_of.items()]
    return make_plan(
        statuses,
        force=options.get("force", False),
        provisional=options.get("provisional", False),
        terms=TERMS,
    )


def test_plan_generates_stale_and_missing_and_skips_modified_without_force() -> None:
    resolved = _resolved()
    fresh = classify(resolved, Record(_generated(resolved)), FILE_SHA)
    missing = classify(resolved, Record(), None)
    modified = classify(resolved, Record(_generated(resolved)), "9" * 64)
    plan = make_plan([fresh, missing, modified], force=False, provisional=False, terms=TERMS)
    assert plan.generate == (missing,)
    assert [why for _, why in plan.skipped] == ["modified by hand; sync --force overwrites it"]
    forced = make_plan([fresh, missing, modified], force=True, provisional=False, terms=TERMS)
    assert forced.generate == (fresh, missing, modified)
    assert forced.cost == 30


def test_plan_resumes_pending_and_never_resubmits_it() -> None:
    resolved = _resolved()
    pending = classify(resolved, Record(None, (_pending(resolved),)), None)
    for force in (False, True):
        plan = make_plan([pending], force=force, provisional=False, terms=TERMS)
        assert plan.generate == ()
        assert [p.task_id for _, p in plan.resume] == ["t1"]


def test_plan_collects_an_older_pending_and_regenerates() -> None:
    old, new = _resolved(), _resolved(text="changed")
    status = classify(new, Record(_generated(old), (_pending(old),)), FILE_SHA)
    plan = make_plan([status], force=False, provisional=False, terms=TERMS)
    assert plan.generate == (status,)
    assert [p.task_id for _, p in plan.resume] == ["t1"]


def test_placeholders_never_replace_a_real_or_modified_image() -> None:
    old, new = _resolved(), _resolved(text="changed")
    real_stale = classify(new, Record(_generated(old)), FILE_SHA)
    modified = classify(new, Record(_generated(old)), "9" * 64)
    old_placeholder = classify(new, Record(_generated(old, how="placeholder")), FILE_SHA)
    current_placeholder = classify(old, Record(_generated(old, how="placeholder")), FILE_SHA)
    missing = classify(new, Record(), None)
    plan = make_plan(
        [real_stale, modified, old_placeholder, current_placeholder, missing],
        force=True,
        provisional=True,
        terms=TERMS,
    )
    assert plan.generate == (old_placeholder, missing)
    assert [s for s, _ in plan.skipped] == [real_stale, modified]


def test_for_real_keeps_a_hand_edit_and_its_pending_task_unless_forced() -> None:
    old, new = _resolved(), _resolved(text="changed")
    modified = classify(new, Record(_generated(old), (_pending(old),)), "9" * 64)
    assert for_real(modified, force=False) == Decision(
        skip="modified by hand: its pending task is kept, not collected"
    )
    forced = for_real(modified, force=True)
    assert forced.generate
    assert forced.resume == (_pending(old),)


def test_frozen_figures_are_left_alone_and_say_so_when_forced() -> None:
    resolved = _resolved(frozen=True)
    frozen = classify(resolved, Record(_generated(_resolved(text="x"))), FILE_SHA)
    assert for_real(frozen, force=False) == Decision()
    assert for_real(frozen, force=True).skip == "frozen: true; unfreeze it to regenerate"


def test_provisional_never_touches_a_figure_with_a_paid_task() -> None:
    resolved = _resolved()
    pending = classify(resolved, Record(None, (_pending(resolved),)), None)
    assert for_provisional(pending).skip == "a paid task is pending; run sync without --placeholder"
    assert decide(pending, force=True, provisional=True) == for_provisional(pending)


def test_plan_cost_is_counted_in_the_backends_terms() -> None:
    missing = classify(_resolved(resolution="2K"), Record(), None)
    assert make_plan([missing], force=False, provisional=False, terms=TERMS).cost == 15
    assert make_plan([missing], force=False, provisional=True, terms=FREE).cost == 0


def test_budget_refuses_over_the_cap_or_the_balance_and_accepts_up_to_them() -> None:
    plan = Plan(generate=(classify(_resolved(resolution="2K"), Record(), None),), terms=TERMS)
    check_budget(plan, 15, 15)
    check_budget(plan, None, None)
    with pytest.raises(BudgetExceeded, match="more than --max-credits 14"):
        check_budget(plan, 14, None)
    with pytest.raises(BudgetExceeded, match="only 14 remain"):
        check_budget(plan, None, 14)
