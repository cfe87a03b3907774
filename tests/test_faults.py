"""The fault matrix: every fault the emulator injects x every phase of a sync.

Each cell runs ``figbuild sync`` (the CLI, in-process) on a small paper against an
emulator with one fault armed at one phase, then a clean sync, and checks what
SPEC promises whatever the fault, using the emulator's own ledger as the measure:

- money: every task the emulator created (and charged) is the image of exactly one
  figure; credits charged == what the figures produced cost (nothing paid twice,
  no paid task dropped);
- files: nothing outside the paper root is touched, no temp or half-written file
  is left, a hand-placed image is never overwritten;
- the terminal: no traceback, the key never shown (not even with stray whitespace
  around it), no raw control character from the server;
- the exit code SPEC gives: 0 when the fault is absorbed (retried, reconciled), 1
  when a figure could not be produced this run (its task kept for the next).

Phases: ``submit`` (POST /generate), ``reconcile`` (GET /tasks after a POST that
got no answer), ``poll`` (GET /task/:id), ``download`` (the image), ``resume``
(the next run collecting tasks an earlier run left pending).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from PIL import Image

from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.emulator import Emulator, EmulatorConfig, Faults
from figbuild.emulator.faults import HOSTILE_URLS
from figbuild.lockfile import read

from .conftest import PaperFactory, all_files

PHASES = ("submit", "reconcile", "poll", "download", "resume")
SECRET = "sk-faults-SECRET-0123456789abcdef"
#: As a user might paste it: stray whitespace around the key.
RAW_KEY = f"  {SECRET}\n"
FIGURES = ("a", "b")
POLICY = RetryPolicy(
    poll=PollSchedule(initial=0.02, factor=1.5, cap=0.1), backoff_base=0.01, task_deadline=0.6
)


@dataclass(frozen=True)
class Fault:
    """How to arm one fault at an emulator phase (``submit``, ``list``, ``poll``, ``download``)."""

    arm: Callable[[Faults, str], None]
    #: The phases of a sync it can strike, each with the exit code SPEC gives.
    exits: dict[str, int]


def injected(kind: str, count: int = 2, **extra: Any) -> Callable[[Faults, str], None]:
    def arm(faults: Faults, phase: str) -> None:
        faults.inject(kind, phase, count, **extra)

    return arm


def stuck(faults: Faults, phase: str) -> None:
    faults.stuck = True


def skewed(faults: Faults, phase: str) -> None:
    faults.clock_skew = -600.0


ALL_ABSORBED = dict.fromkeys(PHASES, 0)
FAULTS: dict[str, Fault] = {
    # The connection closes before the server acts: a POST is ambiguous (checked, then
    # resent), a read is retried.
    "drop before create": Fault(injected("drop"), ALL_ABSORBED),
    "drop after create": Fault(injected("drop_after_create"), {"submit": 0}),
    "slow answer": Fault(injected("hang"), ALL_ABSORBED),
    "late answer after create": Fault(injected("delay_after_create"), {"submit": 0}),
    "unreadable 2xx (html)": Fault(
        injected("html_2xx"), {"submit": 0, "reconcile": 1, "poll": 1, "resume": 1}
    ),
    "unreadable 2xx (no task id)": Fault(
        injected("no_task_id"), {"submit": 0, "reconcile": 1, "poll": 1, "resume": 1}
    ),
    "429 storm": Fault(injected("429", count=4), ALL_ABSORBED),
    "500 with escapes": Fault(injected("500"), ALL_ABSORBED),
    "502 html": Fault(injected("502"), ALL_ABSORBED),
    "unknown status": Fault(
        injected("unknown_status", count=10_000), {"reconcile": 0, "poll": 1, "resume": 1}
    ),
    "stuck task": Fault(stuck, {"poll": 1, "resume": 1}),
    "truncated download": Fault(injected("truncate"), {"download": 0, "resume": 0}),
    "slow download": Fault(injected("trickle"), {"download": 0, "resume": 0}),
    "endless download": Fault(injected("endless", count=100), {"download": 1, "resume": 1}),
    "wrong-format download": Fault(injected("wrong_format", count=100), {"download": 1, "resume": 1}),
    **{
        f"hostile url {url.split(':')[0] if ':' in url else 'relative'}": Fault(
            injected("hostile_url", count=100, value=url), {"poll": 1, "resume": 1}
        )
        for url in HOSTILE_URLS
    },
    "no image url": Fault(injected("no_url", count=100), {"poll": 1, "resume": 1}),
    "echoed key": Fault(
        injected("echo_key", count=100), {"submit": 1, "reconcile": 1, "poll": 1, "resume": 1}
    ),
    "clock 10 min behind": Fault(skewed, {"submit": 0, "reconcile": 0, "poll": 0, "resume": 0}),
    "task list fails": Fault(injected("500", count=100), {"reconcile": 1, "resume": 1}),
}
#: The emulator phase a sync phase's fault is aimed at.
TARGET = {"submit": "submit", "reconcile": "list", "poll": "poll", "download": "download"}
#: Where a fault strikes in the resume phase (the second run polls, lists and downloads).
RESUME_TARGET = {"task list fails": "list", "echoed key": "poll"}
#: Faults of the task list: their resume phase starts from submissions left unconfirmed.
UNCONFIRMED_FIRST = {"task list fails", "clock 10 min behind"}
CELLS = [
    pytest.param(name, phase, expected, id=f"{name}-{phase}")
    for name, fault in FAULTS.items()
    for phase, expected in fault.exits.items()
]


@pytest.fixture
def paper(make_paper: PaperFactory, tmp_path: Path) -> Path:
    """Two figures to generate (pipeline, with content) and one placed by hand; a
    file outside the root that nothing may touch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "outside.png").write_bytes(b"not yours")
    root = make_paper(
        {
            "version": 1,
            "figures": {
                "a": {"prompt": "Figure a of the method", "content": "sections/method.tex"},
                "b": {"prompt": "Figure b of the results", "content": "sections/results.tex"},
                "hand": {"prompt": "drawn by a person"},
            },
        },
        {
            "sections/method.tex": "\\section{Method}\nWe encode, fuse and decode.\n",
            "sections/results.tex": "\\section{Results}\nIt works.\n",
        },
    )
    (root / "figures").mkdir()
    Image.new("RGB", (16, 16), "red").save(root / "figures/hand.png")
    return root


def arm(faults: Faults, name: str, phase: str) -> None:
    if phase == "reconcile":
        # Every POST goes unanswered, so each figure is reconciled against the task list.
        faults.drop_after_create = len(FIGURES)
    target = RESUME_TARGET.get(name, "any") if phase == "resume" else TARGET[phase]
    FAULTS[name].arm(faults, target)


def clear(faults: Faults) -> None:
    faults.injections.clear()
    faults.stuck = False
    faults.clock_skew = 0.0
    faults.drop_after_create = 0


@pytest.mark.parametrize(("name", "phase", "expected"), CELLS)
def test_fault_matrix(
    paper: Path,
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    phase: str,
    expected: int,
) -> None:
    outside_before = all_files(paper.parent / "outside")
    hand = (paper / "figures/hand.png").read_bytes()
    monkeypatch.setattr("figbuild.backends.paperbanana.backend.POLICY", POLICY)
    monkeypatch.setenv("PAPERBANANA_API_KEY", RAW_KEY)
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
        faults = server.config.faults
        faults.retry_after = 0
        faults.trickle_delay = 0.002
        faults.hang_seconds = 0.3
        monkeypatch.setenv("PAPERBANANA_BASE_URL", server.base_url)
        runs: list[Result] = []
        if phase == "resume":
            # A first run leaves every task pending: not finished in time, or (for the
            # faults of the task list) submitted without an answer and not found yet.
            unconfirmed = name in UNCONFIRMED_FIRST
            if unconfirmed:
                faults.drop_after_create = len(FIGURES)
                faults.inject("500", "list", count=100)
            else:
                faults.stuck = True
            runs.append(run_cli("sync", root=paper))
            assert runs[-1].exit_code == 1
            lock = read(paper / "figures.lock")
            for figure in FIGURES:
                [pending] = lock.record(figure).pending
                assert (pending.task_id is None) == unconfirmed
            clear(faults)
        arm(faults, name, phase)
        armed = [(injection, injection.count) for injection in faults.injections]
        runs.append(run_cli("sync", root=paper))
        faulted = runs[-1]
        for injection, count in armed:
            assert injection.count < count, f"{injection} never struck: the cell tests nothing"
        if phase == "reconcile":
            assert faults.drop_after_create == 0, "every figure was reconciled"
        clear(faults)
        runs.append(run_cli("sync", root=paper))
        clean = runs[-1]

        for result in runs:
            assert result.exception is None or isinstance(result.exception, SystemExit), result.output
            assert "Traceback" not in result.output
            assert SECRET[3:] not in result.output, "the key was shown"
            assert "\x1b" not in result.output, "a raw escape from the server reached the terminal"
        assert faulted.exit_code == expected, faulted.output
        if expected:
            assert "failed" in faulted.stderr, "the summary names what failed"
        assert clean.exit_code == 0, clean.output
        assert_ledger(server, paper, runs)
    assert all_files(paper.parent / "outside") == outside_before, "a file outside the paper was touched"
    assert (paper / "figures/hand.png").read_bytes() == hand, "a hand-placed image was overwritten"
    assert_files(paper)


def assert_ledger(server: Emulator, root: Path, runs: list[Result] = ()) -> None:  # type: ignore[assignment]
    """Every paid task is exactly one figure's image, and every figure has one."""
    outputs = "\n---\n".join(result.output for result in runs)
    lock = read(root / "figures.lock")
    records = {figure: lock.record(figure) for figure in FIGURES}
    assert all(record.pending == () for record in records.values()), "every task was collected"
    generated = {figure: record.generated for figure, record in records.items()}
    assert all(g is not None and not g.provisional for g in generated.values())
    collected = sorted(g.task_id for g in generated.values() if g is not None and g.task_id)
    created = sorted(task["task_id"] for task in server.tasks())
    assert collected == created, f"a task paid for is not the image of exactly one figure:\n{outputs}"
    spent = sum(g.credits for g in generated.values() if g is not None)
    assert server.credits_charged == spent == 10 * len(FIGURES)


def assert_files(root: Path) -> None:
    """The paper holds its sources, the lock, one verified image per figure; nothing else."""
    files = {path for path in all_files(root) if not path.startswith(".figbuild/")}
    assert files == {
        "figures.yaml",
        "figures.lock",
        "sections/method.tex",
        "sections/results.tex",
        "figures/a.png",
        "figures/b.png",
        "figures/hand.png",
    }
    lock = read(root / "figures.lock")
    for figure in FIGURES:
        with Image.open(root / f"figures/{figure}.png") as image:
            image.load()
        generated = lock.record(figure).generated
        assert generated is not None
        assert hashlib.sha256((root / f"figures/{figure}.png").read_bytes()).hexdigest() == generated.sha256


def test_the_matrix_covers_every_fault_at_every_phase_it_can_strike() -> None:
    assert len(FAULTS) == 22
    assert {phase for fault in FAULTS.values() for phase in fault.exits} == set(PHASES)
    assert len(CELLS) == 66
