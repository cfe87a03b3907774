"""``sync``: carry out the plan, produce every image and record it in the lock.

:func:`figbuild.plan.make_plan` decides; :func:`sync` runs the plan through any
:class:`~figbuild.backends.base.Backend`, writing every image atomically and the
lock after every step, so an interrupted run is resumed.
"""

from __future__ import annotations

import queue
import threading
import time

from figbuild import atomic, fastpath, preflight, taken, team
from figbuild.backends.base import Backend
from figbuild.errors import (
    BudgetExceeded,
    FileError,
    Interrupted,
)
from figbuild.keeper import LockKeeper
from figbuild.lockfile import Lock
from figbuild.paper import Paper
from figbuild.plan import Plan, check_budget
from figbuild.report import Reporter, announce_plan
from figbuild.runner import Runner, SyncResult, Work, works_of

__all__ = ["SyncResult", "sync"]
from figbuild.statedir import run_lock

#: Most figures in flight at once, whatever the rate limit allows.
MAX_JOBS = 128
#: Seconds Ctrl-C waits for the workers to notice before the run records and exits.
INTERRUPT_GRACE = 0.8


def sync(
    paper: Paper,
    backend: Backend,
    reporter: Reporter,
    *,
    ids: tuple[str, ...] = (),
    force: bool = False,
    dry_run: bool = False,
    max_credits: int | None = None,
    jobs: int | None = None,
    candidates: int | None = None,
) -> SyncResult:
    """Bring the named figures (all when none) up to date.

    Pending tasks are collected before anything new is paid for; an image already
    made for a figure's exact request is put back for 0 credits; a plan over
    ``max_credits`` or the balance is refused before anything is sent.
    """
    resolved = paper.resolve(ids)
    paper.read_lock()  # a lock figbuild must refuse is refused before anything is written
    with run_lock(paper.root, lambda: reporter.info("another figbuild run holds this paper; waiting")):
        keeper = LockKeeper(paper.lock_path, paper.read_lock())
        if not dry_run:
            _sweep(paper, keeper.lock, reporter)
        remote = team.open_team(paper.root, paper.manifest.remote, reporter)  # None without a remote
        history = team.history_for(
            paper.root, remote, lambda warning: reporter.info(f"history: {warning}"), fetch=not dry_run
        )
        statuses = history.recognise(paper.statuses(resolved, keeper.lock))
        plan = history.plan(
            statuses,
            keeper.lock,
            force=force,
            provisional=backend.provisional,
            terms=backend.terms,
            candidates=candidates,
            makes=backend.makes,
        )
        result = SyncResult(plan, statuses)
        for status, why in plan.skipped:
            reporter.figure(status.id, "skipped", why)
        if dry_run:
            try:
                check_budget(plan, max_credits, None)
            except BudgetExceeded as exc:
                result.refusal = exc.message
            return result
        if plan.empty:
            if remote is not None:
                remote.finish(history.store, sweep=False)  # what an unreachable remote left to push
            return result
        check_budget(plan, max_credits, None)
        # The balance first: a run stopped by no key (a build hook's every pass) has
        # written nothing, not even the probes below, so the fast path may replay it.
        balance = _balance(plan, backend)
        problem = atomic.unwritable(paper.lock_path)
        if problem is not None:
            # Every task is recorded there before it is paid for: no lock, no spending.
            raise FileError(f"{problem}; nothing was sent", hint="figbuild needs to write figures.lock")
        if backend.paid and plan.generate:
            preflight.check(paper, plan, history.store)
        check_budget(plan, None, balance)
        recorded, logged = _task_ids(keeper.lock), taken.read(paper.root)
        taken.add(paper.root, sorted(recorded - logged))  # a run killed before logging them
        backend.known(recorded | logged)
        # The default: as many in flight as the backend sustains (its rate limit), so
        # a large plan is paced by the limit, not by waiting on a few slow tasks.
        jobs = min(jobs or backend.concurrency(), MAX_JOBS)
        runner = Runner(paper, backend, reporter, keeper, result, history, remote)
        works = works_of(plan)
        announce_plan(reporter, len(works), plan.cost)
        try:
            _execute(works, runner, jobs, backend.stop)
        finally:
            keeper.flush()
            if remote is not None:
                remote.finish(history.store, sweep=not backend.stop.is_set())
        if balance is not None:
            result.balance = balance - result.credits_spent
        return result


def _execute(works: list[Work], runner: Runner, jobs: int, stop: threading.Event) -> None:
    """Run every figure's work on ``jobs`` threads; on Ctrl-C, stop at once and say so.

    The workers are daemon threads that the main thread does not wait for after
    Ctrl-C (beyond a short grace): a hung POST or a trickling download cannot hold
    the exit up. Whatever they were doing is already in the lock: a submission is
    recorded before its POST, a task before it is collected.
    """
    work: queue.SimpleQueue[Work] = queue.SimpleQueue()
    for item in works:
        work.put(item)
    errors: list[BaseException] = []
    workers = max(1, min(jobs, len(works)))
    running = _Countdown(workers)

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    runner.run(item)
                except Interrupted:  # raised by workers once `stop` is set
                    return
                except BaseException as exc:
                    errors.append(exc)
        finally:
            running.done()

    for n in range(workers):
        threading.Thread(target=worker, name=f"figbuild-{n}", daemon=True).start()
    try:
        running.wait()
    except KeyboardInterrupt:
        stop.set()
        runner.reporter.info("interrupted: recording pending tasks")
        running.wait(INTERRUPT_GRACE)
        runner.keeper.close()
        raise Interrupted(
            "interrupted; every submitted task is recorded as pending",
            hint="run `figbuild sync` again to collect them without paying twice",
        ) from None
    if errors:
        raise errors[0]


class _Countdown:
    """Waits for the workers to finish. Not ``Thread.join``: on CPython 3.11 a join
    interrupted by Ctrl-C marks the still-running thread as finished, so a second
    join would not wait for it to clean up."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._cond = threading.Condition()

    def done(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> None:
        """Until every worker is done, or ``timeout`` seconds; Ctrl-C is seen at once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._count > 0:
                left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if left <= 0:
                    return
                self._cond.wait(left)


def _sweep(paper: Paper, lock: Lock, reporter: Reporter) -> None:
    """Remove temp files that killed runs left beside the outputs and the lock.

    Called under the run lock: no other sync is writing any of them.
    """
    outputs = {figure.output for figure in paper.manifest.figures}
    for record in lock.figures.values():
        outputs.update(p.output for p in record.pending)
        if record.generated is not None:
            outputs.add(record.generated.output)
    targets = [paper.lock_path, *(paper.root / output for output in outputs)]
    removed = atomic.sweep(targets)
    if removed:
        reporter.info(f"removed {len(removed)} temp file(s) left by an interrupted run")
    # What a later sweep finds depends on these folders' listings (a temp file a killed
    # run leaves), and on time for a temp file too young to remove yet.
    for directory in {target.parent for target in targets}:
        fastpath.note_temps(directory)
        if atomic.temp_files(directory):
            fastpath.unrepeatable()


def _balance(plan: Plan, backend: Backend) -> int | None:
    """The balance, read only when the plan spends credits."""
    return backend.balance() if backend.paid and plan.cost else None


def _task_ids(lock: Lock) -> set[str]:
    """Every task the lock records, collected or pending."""
    ids = {p.task_id for record in lock.figures.values() for p in record.pending if p.task_id}
    ids.update(r.generated.task_id for r in lock.figures.values() if r.generated and r.generated.task_id)
    return ids
