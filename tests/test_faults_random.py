"""Random faults and random kills: the money and file invariants hold whatever happens.

- A hypothesis state machine edits a paper, edits figures by hand, arms random
  faults at random phases, and syncs; after every step and at the end (after clean
  syncs) it checks the emulator's ledger against the lock.
- A kill loop SIGKILLs a real ``figbuild sync`` at random moments, then syncs
  cleanly, and checks that every figure was paid for exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from PIL import Image

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend, request_key
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.errors import ApiError
from figbuild.lockfile import Lock, read
from figbuild.paper import Paper

POLICY = RetryPolicy(
    poll=PollSchedule(initial=0.02, factor=1.5, cap=0.1), backoff_base=0.01, task_deadline=0.5
)
#: a and c share a prompt and options and differ in content: the server cannot tell
#: their tasks apart, so reconciliation must never give one the other's.
FIGURES = {
    "a": {"prompt": "The architecture", "content": "sections/a.tex"},
    "b": {"prompt": "The training loop", "content": "sections/b.tex"},
    "c": {"prompt": "The architecture", "content": "sections/c.tex"},
}
KINDS = (
    "drop",
    "drop_after_create",
    "html_2xx",
    "no_task_id",
    "429",
    "500",
    "502",
    "unknown_status",
    "no_url",
    "hostile_url",
    "echo_key",
    "truncate",
    "trickle",
    "wrong_format",
)
PHASES = ("submit", "list", "poll", "download", "any")
#: This machine found that resuming a pending task overwrites an image a person saved
#: at the output after the interrupted run (issue 11, "resuming over a hand edit").
#: classify now makes such a figure modified and keeps its task. True would keep hand
#: edits off figures with a task pending; issue 21 turned that restriction off, with
#: the example database on so that any failing schedule is kept and replayed first.
RESUME_OVER_HAND_EDIT = False


def _visible(task: dict[str, Any]) -> tuple[str, ...]:
    """What the server shows of the request behind ``task``, as :func:`request_key` spells it."""
    prompt = hashlib.sha256(task["prompt"].encode("utf-8")).hexdigest()
    return (task["type"], task["model"], task["resolution"], task["aspect_ratio"], prompt)


class Ledger:
    """Every task figbuild ever took, checked against what the emulator charged.

    Tasks are seen as a run takes them (its ``submitted`` and ``resuming`` events,
    which name the task, found by reconciliation or not) and in the lock after it:
    a task collected and then replaced within one run never shows in a lock file.
    """

    def __init__(self) -> None:
        #: task id -> figure it was taken for; never changes.
        self.taker: dict[str, str] = {}
        #: task id -> (figure, fingerprint) the lock recorded it for; never changes.
        self.owner: dict[str, tuple[str, str]] = {}

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        match = re.match(r"task (\S+?)[,)]?(?:$|,| )", detail)
        if event in ("submitted", "resuming") and match:
            self.took(match[1], figure_id)

    def info(self, message: str) -> None:
        pass

    def took(self, task_id: str, figure: str) -> None:
        seen = self.taker.setdefault(task_id, figure)
        assert seen == figure, f"task {task_id} taken for {seen} and for {figure}"

    def observe(self, lock: Lock) -> None:
        for figure, record in lock.figures.items():
            entries = [(p.task_id, p.fingerprint) for p in record.pending]
            if record.generated is not None:
                entries.append((record.generated.task_id, record.generated.fingerprint))
            for task_id, fingerprint in entries:
                if task_id is None:
                    continue
                self.took(task_id, figure)
                seen = self.owner.setdefault(task_id, (figure, fingerprint))
                assert seen == (figure, fingerprint), f"task {task_id} recorded for {seen} and {figure}"
        per_request: dict[tuple[str, str], list[str]] = {}
        for task_id, key in self.owner.items():
            per_request.setdefault(key, []).append(task_id)
        twice = {key: ids for key, ids in per_request.items() if len(ids) > 1}
        assert not twice, f"paid twice for one figure's request: {twice}"

    def check(self, server: Emulator, lock: Lock) -> int:
        """Every task the emulator created was taken for one figure, or may be one
        that a submission still unconfirmed in the lock created. Returns how many are
        in that second case."""
        self.observe(lock)
        unconfirmed: dict[tuple[str, ...], int] = {}
        for record in lock.figures.values():
            for pending in record.pending:
                if pending.task_id is None:
                    key = request_key(pending.parts)
                    unconfirmed[key] = unconfirmed.get(key, 0) + 1
        uncovered: dict[tuple[str, ...], int] = {}
        for task in server.tasks():
            if task["task_id"] not in self.taker:
                key = _visible(task)
                uncovered[key] = uncovered.get(key, 0) + 1
        for key, count in uncovered.items():
            assert count <= unconfirmed.get(key, 0), f"{count} paid task(s) dropped: {key}"
        return sum(uncovered.values())


class SyncUnderFaults(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="figbuild-faults-"))
        self.root = self.home / "paper"
        self.outside = self.home / "outside"
        self.outside.mkdir()
        (self.outside / "outside.png").write_bytes(b"not yours")
        (self.root / "sections").mkdir(parents=True)
        (self.root / "figures.yaml").write_text(
            yaml.safe_dump({"version": 1, "figures": FIGURES}), encoding="utf-8"
        )
        self.edits = 0
        for figure in FIGURES:
            self._write_content(figure)
        self.server = Emulator(EmulatorConfig(latency=0.02, image_scale=0.05)).start()
        self.server.config.faults.retry_after = 0
        self.server.config.faults.trickle_delay = 0.001
        self.ledger = Ledger()
        self.hand_edits: dict[str, bytes] = {}
        self.hand_tries = 0

    def _write_content(self, figure: str) -> None:
        self.edits += 1
        text = f"\\section{{S}}\nText of {figure}, edit {self.edits}.\n"
        (self.root / "sections" / f"{figure}.tex").write_text(text, encoding="utf-8")

    def _sync(self, jobs: int) -> engine.SyncResult | None:
        settings_ = Settings(base_url=self.server.base_url, key="sk-prop-key", max_download=1 << 20)
        with Client(settings_, policy=POLICY) as client:
            try:
                return engine.sync(Paper.open(self.root), ApiBackend(client, POLICY), self.ledger, jobs=jobs)
            except ApiError:
                return None  # e.g. GET /credits refused before anything was sent: exit 1

    @rule(
        kind=st.sampled_from(KINDS),
        phase=st.sampled_from(PHASES),
        count=st.integers(1, 3),
        url=st.sampled_from(["file:///etc/passwd", "http://example.org/x.png", "../../outside/outside.png"]),
    )
    def arm(self, kind: str, phase: str, count: int, url: str) -> None:
        self.server.config.faults.inject(kind, phase, count, value=url if kind == "hostile_url" else None)

    @rule(on=st.booleans())
    def stuck(self, on: bool) -> None:
        self.server.config.faults.stuck = on

    @rule(on=st.booleans())
    def skew(self, on: bool) -> None:
        self.server.config.faults.clock_skew = -600.0 if on else 0.0

    @rule(figure=st.sampled_from(sorted(FIGURES)))
    def edit_content(self, figure: str) -> None:
        self._write_content(figure)

    # On the count of tries, not of edits made: whether one is made depends on timing,
    # and what hypothesis may draw next must not.
    @precondition(lambda self: self.hand_tries < 2)
    @rule(figure=st.sampled_from(sorted(FIGURES)))
    def edit_by_hand(self, figure: str) -> None:
        self.hand_tries += 1
        if RESUME_OVER_HAND_EDIT and read(self.root / "figures.lock").record(figure).pending:
            return
        path = self.root / "figures" / f"{figure}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (len(self.hand_edits) * 90, 0, 0)).save(path)
        self.hand_edits[figure] = path.read_bytes()

    @rule(
        jobs=st.integers(1, 3),
        faults=st.lists(
            st.tuples(st.sampled_from(KINDS), st.sampled_from(PHASES), st.integers(1, 3)), max_size=3
        ),
    )
    def sync(self, jobs: int, faults: list[tuple[str, str, int]]) -> None:
        """A sync with (mostly) some faults armed for it."""
        for kind, phase, count in faults:
            self.server.config.faults.inject(kind, phase, count)
        self._sync(jobs)

    @invariant()
    def money_and_files(self) -> None:
        if not hasattr(self, "server"):
            return
        self.ledger.check(self.server, read(self.root / "figures.lock"))
        for figure, data in self.hand_edits.items():
            assert (self.root / "figures" / f"{figure}.png").read_bytes() == data, "a hand edit was lost"
        assert (self.outside / "outside.png").read_bytes() == b"not yours"
        assert not list(self.root.rglob("*.figbuild-tmp")), "a temp file was left"

    def teardown(self) -> None:
        try:
            faults = self.server.config.faults
            faults.injections.clear()
            faults.stuck, faults.clock_skew, faults.drop_after_create = False, 0.0, 0
            for _ in range(2):
                self._sync(3)
            lock = read(self.root / "figures.lock")
            self.ledger.check(self.server, lock)
            for figure in FIGURES:
                record = lock.record(figure)
                if figure in self.hand_edits:
                    continue
                # Resolved, or (a, c only) honestly unconfirmed: never a guess.
                assert all(p.task_id is None for p in record.pending), record
                if record.pending:
                    assert figure in ("a", "c"), record
                else:
                    assert record.generated is not None
                    digest = hashlib.sha256((self.root / "figures" / f"{figure}.png").read_bytes())
                    assert digest.hexdigest() == record.generated.sha256
        finally:
            self.server.stop()
            shutil.rmtree(self.home, ignore_errors=True)


EXAMPLES = int(os.environ.get("FIGBUILD_STATEFUL_EXAMPLES", "25"))
STEPS = 10


@pytest.mark.slow
def test_sync_under_a_random_fault_schedule() -> None:
    run_state_machine_as_test(
        SyncUnderFaults,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            # The example database is on: a failing schedule is kept and replayed first.
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# -- the kill loop ---------------------------------------------------------------------

SCRIPT = shutil.which("figbuild")
KILLS = 8


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT, reason="the figbuild console script is not installed")
def test_random_sigkills_then_a_clean_sync_pay_once_per_figure(tmp_path: Path) -> None:
    assert SCRIPT is not None
    root = tmp_path / "paper"
    root.mkdir()
    figures = {f"f{i}": {"prompt": f"figure number {i}"} for i in range(8)}
    (root / "figures.yaml").write_text(yaml.safe_dump({"version": 1, "figures": figures}), encoding="utf-8")
    # Another schedule of kills every run; FIGBUILD_KILL_SEED replays one.
    seed = int(os.environ.get("FIGBUILD_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with Emulator(EmulatorConfig(latency=0.4, image_scale=0.1)) as server:
        env = {**os.environ, "PAPERBANANA_BASE_URL": server.base_url, "PAPERBANANA_API_KEY": "sk-kill-key"}
        cut = 0  # kills that left submitted work behind
        for _ in range(KILLS):
            # Some runs also lose a POST's answer or a task list, so kills land in reconciliation too.
            server.config.faults.drop_after_create = rng.randint(0, 1)
            if rng.random() < 0.5:
                server.config.faults.inject("500", "list")
            process = subprocess.Popen(
                [SCRIPT, "-C", str(root), "sync", "--jobs", "2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.05, 1.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            lock = read(root / "figures.lock")  # always valid, whenever the kill came
            cut += any(record.pending for record in lock.figures.values())
        assert cut >= KILLS // 2, f"the kills landed mid-sync (FIGBUILD_KILL_SEED={seed})"
        server.config.faults.drop_after_create = 0
        server.config.faults.injections.clear()
        clean = subprocess.run(
            [SCRIPT, "-C", str(root), "sync"], env=env, capture_output=True, text=True, timeout=120
        )
        assert clean.returncode == 0, f"FIGBUILD_KILL_SEED={seed}: {clean.stderr}"
        rows = json.loads(
            subprocess.run(
                [SCRIPT, "-C", str(root), "status", "--json"], env=env, capture_output=True, text=True
            ).stdout
        )
        assert {row["state"] for row in rows} == {"fresh"}, f"FIGBUILD_KILL_SEED={seed}"
        lock = read(root / "figures.lock")
        collected = sorted(lock.record(f).generated.task_id for f in figures)  # type: ignore[union-attr]
        created = sorted(task["task_id"] for task in server.tasks())
        tasks = [(task["task_id"], task["prompt"], task["created_at"]) for task in server.tasks()]
        assert collected == created, f"each figure paid exactly once (FIGBUILD_KILL_SEED={seed}): {tasks}"
        assert server.credits_charged == 10 * len(figures)
    for figure in figures:
        path = root / "figures" / f"{figure}.png"
        with Image.open(path) as image:
            image.load()  # complete, not half-written
        generated = lock.record(figure).generated
        assert generated is not None
        assert hashlib.sha256(path.read_bytes()).hexdigest() == generated.sha256
    # The clean sync leaves no temp file of its own; one a SIGKILL left mid-write (rare:
    # the kill must land inside a write) is never taken for a figure, and removing such
    # stale files is the temp-file cleanup's job.
    leftovers = sorted(p.name for p in root.rglob("*.figbuild-tmp"))
    assert all(name.startswith(".") for name in leftovers), leftovers
    figure_files = {p.name for p in (root / "figures").iterdir() if not p.name.startswith(".")}
    assert figure_files == {f"{figure}.png" for figure in figures}
