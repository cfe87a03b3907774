"""``sync``: carry out the plan, produce every image and record it in the lock.

:func:`figbuild.plan.make_plan` decides; :func:`sync` runs the plan through any
:class:`~figbuild.backends.base.Backend`, writing every image atomically and the
lock after every step, so an interrupted run is resumed.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from figbuild import atomic, images, lockfile, taken
from figbuild.backends.base import Backend, FigureFailed, Job, StillPending, TaskNotFound, Ticket, Unconfirmed
from figbuild.content import ContentError, ContentReader
from figbuild.digests import sha256_file
from figbuild.errors import ApiError, Forbidden, Interrupted, PaymentRequired, Unauthorized
from figbuild.lockfile import Generated, Lock, Pending
from figbuild.paper import Paper
from figbuild.plan import Plan, check_budget, make_plan
from figbuild.report import Reporter
from figbuild.state import FigureStatus
from figbuild.statedir import run_lock
from figbuild.timestamps import now, parse_time


@dataclass
class SyncResult:
    plan: Plan
    generated: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    credits_spent: int = 0
    balance: int | None = None


#: Most figures in flight at once, whatever the rate limit allows.
MAX_JOBS = 128
#: Seconds Ctrl-C waits for the workers to notice before the run records and exits.
INTERRUPT_GRACE = 0.8


class _LockKeeper:
    """The run's copy of the lock, written through to ``figures.lock``.

    A durable change (a submission about to be paid for, or just paid for) is on
    disk before ``update`` returns; concurrent ones are written together. Other
    changes (a figure collected, a task retired) are written at most every
    ``FLUSH_INTERVAL`` seconds and at the end of the run: rewriting a 2,000-figure
    lock for every figure would make a large sync quadratic. Losing them to a
    crash costs nothing: a pending task is collected again, free.
    """

    FLUSH_INTERVAL = 0.5

    def __init__(self, path: Path, lock: Lock) -> None:
        self.path = path
        self.lock = lock
        self._mutex = threading.Lock()  # guards lock and the version counters
        self._writing = threading.Lock()  # one write at a time
        self._version = 0
        self._written = 0
        self._written_at = 0.0
        self._closed = False

    def close(self) -> None:
        """Take no more changes: after Ctrl-C, a worker still blocked in a request may
        wake after the run ended, and must not write a lock another run now owns."""
        with self._mutex:
            self._closed = True

    def update(self, change: Callable[[Lock], Lock], *, durable: bool = False) -> None:
        with self._mutex:
            if self._closed:
                return
            self.lock = change(self.lock)
            self._version += 1
            mine = self._version
        if durable or time.monotonic() - self._written_at >= self.FLUSH_INTERVAL:
            self._write(mine)

    def flush(self) -> None:
        """Write whatever is not on disk yet."""
        with self._mutex:
            latest = self._version
        self._write(latest)

    def _write(self, version_needed: int) -> None:
        with self._writing:
            if self._written >= version_needed:
                return  # another thread's write included this change
            with self._mutex:
                snapshot, version = self.lock, self._version
            lockfile.write(self.path, snapshot)
            self._written, self._written_at = version, time.monotonic()


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
) -> SyncResult:
    """Bring the named figures (all when none) up to date. See SPEC.md, `sync`."""
    resolved = paper.resolve(ids)
    with run_lock(paper.root, lambda: reporter.info("another figbuild run holds this paper; waiting")):
        keeper = _LockKeeper(paper.lock_path, paper.read_lock())
        statuses = paper.statuses(resolved, keeper.lock)
        plan = make_plan(
            statuses, force=force, provisional=backend.provisional, terms=backend.terms, kind=backend.kind
        )
        result = SyncResult(plan)
        for status, why in plan.skipped:
            reporter.figure(status.id, "skipped", why)
        if dry_run or plan.empty:
            return result
        check_budget(plan, max_credits, None)
        balance = _balance(plan, backend)
        check_budget(plan, None, balance)
        recorded, logged = _task_ids(keeper.lock), taken.read(paper.root)
        taken.add(paper.root, sorted(recorded - logged))  # a run killed before logging them
        backend.known(recorded | logged)
        if not ids:
            known = {item.figure.id for item in resolved}
            keeper.update(lambda lock: _prune(lock, known))
        # The default: as many in flight as the backend sustains (its rate limit), so
        # a large plan is paced by the limit, not by waiting on a few slow tasks.
        jobs = min(jobs or backend.concurrency(), MAX_JOBS)
        try:
            _execute(plan, _Runner(paper, backend, reporter, keeper, result), jobs, backend.stop)
        finally:
            keeper.flush()
        if balance is not None:
            result.balance = balance - result.credits_spent
        return result


def _execute(plan: Plan, runner: _Runner, jobs: int, stop: threading.Event) -> None:
    """Run every figure's work on ``jobs`` threads; on Ctrl-C, stop at once and say so.

    The workers are daemon threads that the main thread does not wait for after
    Ctrl-C (beyond a short grace): a hung POST or a trickling download cannot hold
    the exit up. Whatever they were doing is already in the lock: a submission is
    recorded before its POST, a task before it is collected.
    """
    resume: dict[str, list[Pending]] = {}
    statuses: dict[str, FigureStatus] = {}
    for status, pending in plan.resume:
        resume.setdefault(status.id, []).append(pending)
        statuses[status.id] = status
    generate = {status.id for status in plan.generate}
    statuses.update((status.id, status) for status in plan.generate)
    work: queue.SimpleQueue[FigureStatus] = queue.SimpleQueue()
    for status in statuses.values():
        work.put(status)
    errors: list[BaseException] = []
    workers = max(1, min(jobs, len(statuses)))
    running = _Countdown(workers)

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    status = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    runner.run(status, tuple(resume.get(status.id, ())), status.id in generate)
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


def _balance(plan: Plan, backend: Backend) -> int | None:
    """The balance, read only when the plan spends credits."""
    return backend.balance() if backend.paid and plan.cost else None


def _task_ids(lock: Lock) -> set[str]:
    """Every task the lock records, collected or pending."""
    ids = {p.task_id for record in lock.figures.values() for p in record.pending if p.task_id}
    ids.update(r.generated.task_id for r in lock.figures.values() if r.generated and r.generated.task_id)
    return ids


def _prune(lock: Lock, known: set[str]) -> Lock:
    """Drop records of figures no longer in the manifest, except paid tasks still pending."""
    for figure_id, record in lock.figures.items():
        if figure_id not in known and not record.pending:
            lock = lock.without(figure_id)
    return lock


class _Conflict(Exception):
    """The output changed on disk while figbuild worked on it; it was kept."""


class _Runner:
    """Produces figures on worker threads, recording every step in the lock."""

    def __init__(
        self, paper: Paper, backend: Backend, reporter: Reporter, keeper: _LockKeeper, result: SyncResult
    ) -> None:
        self.root = paper.root
        # One reader for the run: figures that share a file read it once.
        self._reader = ContentReader(paper.root)
        self.backend = backend
        self.reporter = reporter
        self.keeper = keeper
        self.result = result
        self._mutex = threading.Lock()
        #: Set when the API refused the key, the credits or the plan: no point spending more.
        self.refused: str | None = None

    def run(self, status: FigureStatus, resume: tuple[Pending, ...], generate: bool) -> None:
        """Everything for one figure, in order: collect what was paid for, then generate."""
        for pending in resume:
            self._resume(status, pending)
        if generate:
            self._generate(status)

    def _generate(self, status: FigureStatus) -> None:
        figure, fingerprint = status.resolved.figure, status.resolved.fingerprint
        if self.refused is not None:
            self._failed(figure.id, f"not submitted: {self.refused}")
            return
        try:
            request = self._reader.filled(status.resolved.request)
        except ContentError as exc:
            self._failed(figure.id, str(exc))
            return
        job = Job(figure.id, request, images.format_for(figure.output), fingerprint.parts)
        self.reporter.figure(figure.id, "generating", f"{job.request.model}, {job.request.resolution}")
        intent = Pending(
            task_id=None,
            fingerprint=fingerprint.digest,
            parts=dict(fingerprint.parts),
            output=figure.output,
            credits=self.backend.terms.cost(job.request),
            submitted_at=now(),
        )
        if self.backend.paid:
            # Recorded before the POST: if this process dies before the answer is
            # recorded, the next run looks for the task instead of paying again.
            self.keeper.update(lambda lock: lock.with_pending(figure.id, intent), durable=True)
        try:
            ticket = self.backend.submit(job)
        except Unconfirmed as exc:
            # A task may exist: the mark stays, so nothing is paid twice.
            self._failed(figure.id, str(exc))
            return
        except (ApiError, FigureFailed, Interrupted) as exc:
            # Nothing was created (refused, or the task list showed none): forget the mark.
            self.keeper.update(lambda lock: lock.replace_pending(figure.id, intent, None))
            if isinstance(exc, Interrupted):
                raise
            if isinstance(exc, (Unauthorized, PaymentRequired, Forbidden)):
                self.refused = exc.message
            self._failed(figure.id, str(exc))
            return
        self._confirmed(status, intent, ticket)

    def _resume(self, status: FigureStatus, pending: Pending) -> None:
        job = Job(status.id, status.resolved.request, images.format_for(pending.output), pending.parts)
        if pending.task_id is not None:
            self.reporter.figure(status.id, "resuming", f"task {pending.task_id}")
            ticket = Ticket(job, pending.task_id, pending.credits, pending.submitted_at)
            try:
                self._collect(status, ticket, pending)
                return
            except TaskNotFound:
                gone = f"task {pending.task_id} no longer exists for this key"
        else:
            try:
                found = self.backend.find(job, parse_time(pending.submitted_at))
            except Unconfirmed as exc:
                self._failed(status.id, str(exc))
                return
            if found is not None:
                self._confirmed(status, pending, found)
                return
            gone = "an interrupted submission created no task"
        # Nothing to collect: forget the entry and generate if the figure still wants it.
        self.keeper.update(lambda lock: lock.replace_pending(status.id, pending, None))
        self.reporter.figure(status.id, "checked", gone)
        if pending.fingerprint == status.resolved.fingerprint.digest:
            self._generate(status)

    def _confirmed(self, status: FigureStatus, intent: Pending, ticket: Ticket) -> None:
        """Record the task a submission created, then collect it."""
        pending = replace(intent, task_id=ticket.task_id, credits=ticket.credits)
        if ticket.task_id is not None:
            self.keeper.update(lambda lock: lock.replace_pending(status.id, intent, pending), durable=True)
            # After the lock: a task in this log but not in the lock would be hidden from
            # the next run's reconciliation if the process died in between.
            taken.add(self.root, [ticket.task_id])
            self.reporter.figure(
                status.id, "submitted", f"task {ticket.task_id}, {ticket.credits} credits", ticket.credits
            )
        with self._mutex:
            self.result.credits_spent += ticket.credits
        try:
            self._collect(status, ticket, pending)
        except TaskNotFound as exc:  # the task we were just given vanished
            self.keeper.update(lambda lock: lock.replace_pending(status.id, pending, None))
            self._failed(status.id, str(exc))

    def _collect(self, status: FigureStatus, ticket: Ticket, pending: Pending) -> None:
        figure_id, current = status.id, status.resolved.fingerprint.digest
        generated = self.keeper.lock.record(figure_id).generated
        if pending.fingerprint != current and generated is not None and generated.fingerprint == current:
            # The figure already has an image of its current inputs: this older task's
            # image would replace it, make the figure stale, and be paid for again.
            self.keeper.update(lambda lock: lock.replace_pending(figure_id, pending, None))
            self.reporter.figure(
                figure_id, "checked", f"task {ticket.task_id} was for older inputs than the current image"
            )
            return
        target = self.root / pending.output
        expected = sha256_file(target)
        try:
            location = self.backend.wait(ticket)
        except TaskNotFound:
            raise
        except FigureFailed as exc:
            # The task itself failed (and the API does not charge for it): nothing to collect.
            self.keeper.update(lambda lock: lock.replace_pending(figure_id, pending, None))
            self._failed(figure_id, str(exc))
            return
        except (ApiError, StillPending) as exc:
            self._failed(figure_id, f"{exc} (the task stays pending; the next sync collects it)")
            return
        try:
            digest = self._write(ticket, location, target, expected)
        except (ApiError, StillPending, images.ImageError, _Conflict) as exc:
            self._failed(figure_id, f"{exc} (the task stays pending; the next sync collects it)")
            return
        generated = Generated(
            fingerprint=pending.fingerprint,
            parts=pending.parts,
            output=pending.output,
            sha256=digest,
            generated_at=now(),
            placeholder=self.backend.provisional,
            provisional=self.backend.kind if self.backend.provisional else None,
            task_id=ticket.task_id,
            credits=ticket.credits,
            model=ticket.job.request.model,
            resolution=ticket.job.request.resolution,
        )
        self.keeper.update(lambda lock: lock.with_generated(figure_id, generated, done=pending))
        with self._mutex:
            self.result.generated.append(figure_id)
        self.reporter.figure(figure_id, "written", pending.output)

    def _write(self, ticket: Ticket, location: str, target: Path, expected: str | None) -> str:
        """Fetch into a temp file beside ``target``, verify, convert, and rename into place."""
        with atomic.atomic_writer(target) as handle:
            self.backend.fetch(ticket, location, handle)
            handle.flush()
            staged = Path(handle.name)
            got = images.verify(staged)
            if got != ticket.job.fmt:
                converted = io.BytesIO()
                images.convert(staged, converted, ticket.job.fmt)
                handle.seek(0)
                handle.truncate()
                handle.write(converted.getvalue())
                handle.flush()
                images.verify(staged)
            if self.backend.stop.is_set():
                raise Interrupted("interrupted before writing the image")
            if sha256_file(target) != expected:
                raise _Conflict(f"{target.name} changed while figbuild was working on it; kept it")
            # The staged bytes are what the rename puts in place: hash them here
            # rather than read the figure back afterwards.
            digest = sha256_file(staged)
        assert digest is not None
        return digest

    def _failed(self, figure_id: str, reason: str) -> None:
        with self._mutex:
            self.result.failed.append((figure_id, reason))
        self.reporter.figure(figure_id, "failed", reason)
