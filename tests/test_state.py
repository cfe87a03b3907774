"""The state machine, as a pure function of figures, lock records and files."""

from __future__ import annotations

from figbuild.backends.paperbanana.terms import TERMS
from figbuild.content import ContentPart
from figbuild.fingerprint import compute
from figbuild.lockfile import Generated, Pending, Record
from figbuild.manifest import Figure
from figbuild.plan import make_plan
from figbuild.request import Request
from figbuild.resolve import Resolved
from figbuild.state import FigureStatus, State, classify

FILE_SHA = "1" * 64


def _resolved(frozen: bool = False, resolution: str = "1K", text: str = "body") -> Resolved:
    figure = Figure(
        id="fig",
        prompt="Draw {{ method }}",
        mode="pipeline",
        model="nano-banana-pro",
        resolution=resolution,
        aspect_ratio="1:1",
        image_input=(),
        content=(),
        output="figures/fig.png",
        frozen=frozen,
    )
    request = Request(
        "pipeline",
        "Draw X",
        "nano-banana-pro",
        resolution,
        "1:1",
        content=(ContentPart.of("a.tex", None, text),),
    )
    fingerprint = compute(request, figure.prompt, {"method": "X"})
    return Resolved(figure, request, fingerprint, TERMS.cost(request))


def _generated(resolved: Resolved, **overrides: object) -> Generated:
    fields: dict[str, object] = {
        "fingerprint": resolved.fingerprint.digest,
        "parts": dict(resolved.fingerprint.parts),
        "output": "figures/fig.png",
        "sha256": FILE_SHA,
        "generated_at": "2026-01-01T00:00:00Z",
    }
    fields.update(overrides)
    return Generated(**fields)  # type: ignore[arg-type]


def _pending(resolved: Resolved, task_id: str | None = "t1") -> Pending:
    return Pending(
        task_id,
        resolved.fingerprint.digest,
        dict(resolved.fingerprint.parts),
        "figures/fig.png",
        10,
        "2026-01-01T00:00:00Z",
    )


def cost(status: FigureStatus) -> int:
    """What a sync would spend on the figure: the plan's count, the one figbuild reports."""
    return make_plan([status], force=False, provisional=False, terms=TERMS).cost


def test_fresh_when_everything_matches() -> None:
    resolved = _resolved()
    status = classify(resolved, Record(_generated(resolved)), FILE_SHA)
    assert (status.state, status.reasons, cost(status)) == (State.FRESH, (), 0)


def test_missing_when_never_generated_or_file_gone() -> None:
    resolved = _resolved()
    assert classify(resolved, Record(), None).reasons == ("never generated",)
    gone = classify(resolved, Record(_generated(resolved)), None)
    assert (gone.state, gone.reasons, cost(gone)) == (State.MISSING, ("output file is gone",), 10)


def test_stale_says_what_changed() -> None:
    old = _resolved()
    new = _resolved(resolution="2K", text="new body")
    status = classify(new, Record(_generated(old)), FILE_SHA)
    assert status.state is State.STALE
    assert status.reasons == ("content a.tex changed", "resolution 1K -> 2K")
    assert cost(status) == 15


def test_modified_when_file_differs_or_was_not_written_by_figbuild() -> None:
    resolved = _resolved()
    edited = classify(resolved, Record(_generated(resolved)), "2" * 64)
    assert (edited.state, cost(edited)) == (State.MODIFIED, 0)
    foreign = classify(resolved, Record(), FILE_SHA)
    assert foreign.state is State.MODIFIED
    assert foreign.reasons == ("file not written by figbuild",)


def test_frozen_keeps_an_existing_image_but_not_a_missing_one() -> None:
    old, new = _resolved(frozen=True), _resolved(frozen=True, text="changed")
    assert classify(new, Record(_generated(old)), FILE_SHA).state is State.FROZEN
    assert classify(new, Record(), None).state is State.MISSING


def test_placeholder_is_stale_even_when_inputs_match() -> None:
    resolved = _resolved()
    status = classify(resolved, Record(_generated(resolved, how="placeholder")), FILE_SHA)
    assert (status.state, status.reasons) == (State.STALE, ("placeholder",))


def test_pending_for_the_current_inputs_wins() -> None:
    resolved = _resolved()
    status = classify(resolved, Record(None, (_pending(resolved),)), None)
    assert status.state is State.PENDING
    assert "task t1" in status.reasons[0]


def test_older_pending_is_reported_on_a_stale_figure() -> None:
    old, new = _resolved(), _resolved(text="changed")
    status = classify(new, Record(_generated(old), (_pending(old),)), FILE_SHA)
    assert status.state is State.STALE
    assert status.reasons[-1] == "an older task t1 is pending"


def test_state_properties_are_the_one_owner_of_what_a_state_means() -> None:
    assert {state for state in State if state.outdated} == {State.STALE, State.MISSING}
    assert {state for state in State if state.passes_check} == {State.FRESH, State.FROZEN, State.ORPHANED}


def test_the_digest_decides_and_the_parts_only_explain() -> None:
    # e.g. newer content rules that send the same text: the same request, so still fresh.
    resolved = _resolved()
    relabelled = _generated(resolved, parts={**resolved.fingerprint.parts, "content_rules": "1"})
    assert classify(resolved, Record(relabelled), FILE_SHA).state is State.FRESH
    other = _generated(_resolved(text="other"), parts={**resolved.fingerprint.parts, "content_rules": "1"})
    assert classify(resolved, Record(other), FILE_SHA).reasons == ("content rules changed",)


def test_a_hand_edit_after_an_interrupted_run_is_modified_not_pending() -> None:
    # A run was killed with a task pending; then a person saved a file at the output.
    # Their file wins: resuming the task must not overwrite it.
    old, new = _resolved(), _resolved(text="changed")
    pending = (_pending(new),)
    edited = classify(new, Record(_generated(old), pending), "2" * 64)
    assert edited.state is State.MODIFIED
    assert edited.reasons[0] == "changed since figbuild wrote it"
    assert "task t1" in edited.reasons[-1]
    placed = classify(new, Record(None, pending), FILE_SHA)
    assert placed.state is State.MODIFIED
    assert placed.reasons[0] == "file not written by figbuild"
    untouched = classify(new, Record(_generated(old), pending), FILE_SHA)
    assert untouched.state is State.PENDING
    assert classify(new, Record(None, pending), None).state is State.PENDING


def test_outputs_are_compared_by_their_normal_spelling() -> None:
    resolved = _resolved()
    status = classify(resolved, Record(_generated(resolved, output="./figures//fig.png")), FILE_SHA)
    assert status.state is State.FRESH
