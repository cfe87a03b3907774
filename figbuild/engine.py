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
from typing import BinaryIO

from figbuild import atomic, fastpath, images, lockfile, preflight, sent, taken
from figbuild.backends import redact
from figbuild.backends.base import Backend, FigureFailed, Job, StillPending, TaskNotFound, Ticket, Unconfirmed
from figbuild.content import ContentError, ContentReader
from figbuild.digests import sha256_file
from figbuild.errors import (
    ApiError,
    BudgetExceeded,
    FileError,
    Forbidden,
    Interrupted,
    PaymentRequired,
    Unauthorized,
)
from figbuild.history import History, changed, meta_of, pinned
from figbuild.lockfile import Failure, Generated, Lock, Pending
from figbuild.paper import Paper
from figbuild.plan import Plan, Source, check_budget, make_plan
from figbuild.report import Reporter
from figbuild.safetext import printable
from figbuild.state import FigureStatus
from figbuild.statedir import run_lock, state_dir
from figbuild.store import How, Meta, StoreError
from figbuild.timestamps import now, parse_time


@dataclass
class SyncResult:
    plan: Plan
    #: Every named figure's state when the run began.
    statuses: list[FigureStatus] = field(default_factory=list)
    #: Why the plan was (or, in a dry run, would be) refused before anything was sent.
    refusal: str | None = None
    generated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
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
            try:
                lockfile.write(self.path, snapshot)
            except OSError as exc:
                raise FileError(atomic.explain(exc, self.path)) from None
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
        keeper = _LockKeeper(paper.lock_path, paper.read_lock())
        if not dry_run:
            _sweep(paper, keeper.lock, reporter)
        statuses = paper.statuses(resolved, keeper.lock)
        history = History(paper.root, on_warning=lambda warning: reporter.info(f"history: {warning}"))
        outdated = not force and any(status.state.outdated for status in statuses)
        sources = history.sources(statuses, keeper.lock) if outdated else {}
        plan = make_plan(
            statuses,
            force=force,
            provisional=backend.provisional,
            terms=backend.terms,
            sources=sources,
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
            return result
        check_budget(plan, max_credits, None)
        problem = atomic.unwritable(paper.lock_path)
        if problem is not None:
            # Every task is recorded there before it is paid for: no lock, no spending.
            raise FileError(f"{problem}; nothing was sent", hint="figbuild needs to write figures.lock")
        if backend.paid and plan.generate:
            preflight.check(paper, plan, history.store)
        balance = _balance(plan, backend)
        check_budget(plan, None, balance)
        recorded, logged = _task_ids(keeper.lock), taken.read(paper.root)
        taken.add(paper.root, sorted(recorded - logged))  # a run killed before logging them
        backend.known(recorded | logged)
        # The default: as many in flight as the backend sustains (its rate limit), so
        # a large plan is paced by the limit, not by waiting on a few slow tasks.
        jobs = min(jobs or backend.concurrency(), MAX_JOBS)
        runner = _Runner(paper, backend, reporter, keeper, result, history)
        try:
            _execute(_work(plan), runner, jobs, backend.stop)
        finally:
            keeper.flush()
        if balance is not None:
            result.balance = balance - result.credits_spent
        return result


@dataclass
class _Work:
    """Everything a run does for one figure, in the order it is done."""

    status: FigureStatus
    resume: list[Pending] = field(default_factory=list)
    restore: Source | None = None
    adopt: bool = False
    generate: int = 0  # how many images (candidates) to pay for
    reclaim: list[Pending] = field(default_factory=list)


def _work(plan: Plan) -> list[_Work]:
    works: dict[str, _Work] = {}

    def of(status: FigureStatus) -> _Work:
        return works.setdefault(status.id, _Work(status))

    for status, pending in plan.resume:
        of(status).resume.append(pending)
    for status, source in plan.restore:
        of(status).restore = source
    for status in plan.adopt:
        of(status).adopt = True
    for status in plan.generate:
        of(status).generate = plan.count(status)
    for status, pending in plan.reclaim:
        of(status).reclaim.append(pending)
    return list(works.values())


def _execute(works: list[_Work], runner: _Runner, jobs: int, stop: threading.Event) -> None:
    """Run every figure's work on ``jobs`` threads; on Ctrl-C, stop at once and say so.

    The workers are daemon threads that the main thread does not wait for after
    Ctrl-C (beyond a short grace): a hung POST or a trickling download cannot hold
    the exit up. Whatever they were doing is already in the lock: a submission is
    recorded before its POST, a task before it is collected.
    """
    work: queue.SimpleQueue[_Work] = queue.SimpleQueue()
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


_STAYS_PENDING = "(the task stays pending; the next sync collects it)"


class _Conflict(Exception):
    """The output changed on disk while figbuild worked on it; it was kept."""


class _Runner:
    """Produces figures on worker threads, recording every step in the lock and every
    image in the history store."""

    def __init__(
        self,
        paper: Paper,
        backend: Backend,
        reporter: Reporter,
        keeper: _LockKeeper,
        result: SyncResult,
        history: History,
    ) -> None:
        self.root = paper.root
        # One reader for the run: figures that share a file read it once.
        self._reader = ContentReader(paper.root)
        self.backend = backend
        self.reporter = reporter
        self.keeper = keeper
        self.result = result
        self.history = history
        self._mutex = threading.Lock()
        #: (figure, request) pairs whose output a candidate of this run has claimed.
        self._claimed: set[tuple[str, str]] = set()
        #: Set when the API refused the key, the credits or the plan: no point spending more.
        self.refused: str | None = None

    def run(self, work: _Work) -> None:
        """Everything for one figure, in order: collect what was paid for, then put back
        what history has, record what is already there, or generate."""
        status = work.status
        for pending in work.reclaim:
            self._reclaim(status, pending)
        for pending in work.resume:
            self._resume(status, pending)
        if work.restore is not None:
            self._restore(status, work.restore)
        if work.adopt:
            self._adopt(status)
        if work.generate:
            self._generate(status, work.generate)

    # -- free: history and what is on disk ----------------------------------

    def _restore(self, status: FigureStatus, source: Source) -> None:
        data = self.history.read(source)
        if data is None:
            self._failed(status.id, "its image in history is gone or damaged; sync again to generate it")
            return
        target = self.root / status.output
        try:
            with atomic.atomic_writer(target) as handle:
                handle.write(data)
                digest = self._finish(Path(handle.name), images.format_for(status.output), handle)
                self._keep_existing(status.id, target)
        except (images.ImageError, OSError) as exc:
            self._failed(status.id, f"could not restore it: {exc}")
            return
        generated = pinned(status, digest, How.RESTORED, source.entry)
        self.keeper.update(lambda lock: lock.with_generated(status.id, generated))
        self._store(target, generated, status.id, f"restored {source.describe()}")
        with self._mutex:
            self.result.restored.append(status.id)
        self.reporter.figure(status.id, "restored", f"{status.output}, {source.describe()}, 0 credits")

    def _adopt(self, status: FigureStatus) -> None:
        """Record the output already on disk (bytes made for these inputs) as the figure's image."""
        old = status.record.generated
        current = status.resolved.fingerprint
        assert status.output_sha256 is not None
        if old is not None and old.sha256 == status.output_sha256 and old.fingerprint == current.digest:
            generated = replace(old, output=status.output)
        else:
            generated = pinned(status, status.output_sha256, How.RESTORED)
        self.keeper.update(lambda lock: lock.with_generated(status.id, generated))
        self.reporter.figure(status.id, "recorded", f"{status.output} already holds its image")

    def _reclaim(self, status: FigureStatus, pending: Pending) -> None:
        """Record ``pending`` as collected if its image is the file at its output already.

        That file looks modified by hand but is figbuild's own: a run was killed
        between writing it and recording it. Anything else (a real hand edit, an
        error) leaves the file and the task as they are, silently: the figure was
        reported skipped.
        """
        if pending.task_id is None:
            return  # an image is only ever written for a confirmed task
        job = Job(status.id, status.resolved.request, images.format_for(pending.output), pending.parts)
        ticket = Ticket(job, pending.task_id, pending.credits, pending.submitted_at)
        target = self.root / pending.output
        try:
            on_disk = sha256_file(target)
            location = self.backend.wait(ticket)
            digest = self._write(ticket, location, target, on_disk, same_only=True)
        except (ApiError, FigureFailed, StillPending, images.ImageError, _Conflict, OSError):
            return  # a task not done yet stays pending too: the next sync looks again
        self._record(status.id, ticket, pending, digest, self._how(pending))
        self.reporter.info(f"{status.id}: {pending.output} is the image of task {pending.task_id}; recorded")

    # -- paid: submit, resume, collect ---------------------------------------

    def _generate(self, status: FigureStatus, count: int = 1) -> None:
        figure, fingerprint = status.resolved.figure, status.resolved.fingerprint
        if self.refused is not None:
            self._failed(figure.id, f"not submitted: {self.refused}")
            return
        # Checked before paying: an image that cannot be written would wait as a pending task.
        problem = atomic.unwritable(self.root / figure.output)
        if problem is not None:
            self._failed(figure.id, f"{problem}; nothing was sent")
            return
        try:
            request = self._reader.filled(status.resolved.request)
        except ContentError as exc:
            self._failed(figure.id, str(exc))
            return
        job = Job(figure.id, request, images.format_for(figure.output), fingerprint.parts)
        sent.record(self.root, fingerprint.digest, request)
        self.keeper.update(lambda lock: lock.with_failure(figure.id, None))  # a new attempt
        submitted: list[tuple[Ticket, Pending]] = []
        for number in range(1, count + 1):
            detail = f"{job.request.model}, {job.request.resolution}"
            if count > 1:
                detail += f", candidate {number}"
            self.reporter.figure(figure.id, "generating", detail)
            intent = Pending(
                task_id=None,
                fingerprint=fingerprint.digest,
                parts=dict(fingerprint.parts),
                output=figure.output,
                credits=self.backend.terms.cost(job.request),
                submitted_at=now(),
                candidate=number if count > 1 else None,
            )
            ticket = self._submit(figure.id, job, intent)
            if ticket is None:
                break
            submitted.append((ticket, self._confirm(figure.id, intent, ticket)))
        for ticket, pending in submitted:
            self._collect_or_forget(status, ticket, pending)

    def _submit(self, figure_id: str, job: Job, intent: Pending) -> Ticket | None:
        if self.backend.paid:
            # Recorded before the POST: if this process dies before the answer is
            # recorded, the next run looks for the task instead of paying again.
            self.keeper.update(lambda lock: lock.with_pending(figure_id, intent), durable=True)
        try:
            return self.backend.submit(job)
        except Unconfirmed as exc:
            # A task may exist: the mark stays, so nothing is paid twice.
            self._failed(figure_id, str(exc))
            return None
        except (ApiError, FigureFailed, Interrupted) as exc:
            # Nothing was created (refused, or the task list showed none): forget the mark.
            self.keeper.update(lambda lock: lock.replace_pending(figure_id, intent, None))
            if isinstance(exc, Interrupted):
                raise
            if isinstance(exc, (Unauthorized, PaymentRequired, Forbidden)):
                self.refused = exc.message
            self._failed(figure_id, str(exc))
            return None

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
                self._collect_or_forget(status, found, self._confirm(status.id, pending, found))
                return
            gone = "an interrupted submission created no task"
        # Nothing to collect: forget the entry and generate if the figure still wants it
        # (not when an image was chosen for it since: a restore, accept or pick).
        self.keeper.update(lambda lock: lock.replace_pending(status.id, pending, None))
        self.reporter.figure(status.id, "checked", gone)
        wanted = pending.fingerprint == status.resolved.fingerprint.digest and pending.candidate in (None, 1)
        if wanted and not self._chosen_since(status.id, pending):
            self._generate(status)

    def _chosen_since(self, figure_id: str, pending: Pending) -> bool:
        """Whether the figure's image was put in place after ``pending`` was submitted
        (a restore, accept or pick, or a later task's image): that choice stands. A
        placeholder drawn since only stands in: a paid image still replaces it."""
        generated = self.keeper.lock.record(figure_id).generated
        return (
            generated is not None
            and not generated.provisional
            and generated.generated_at > pending.submitted_at
        )

    def _confirm(self, figure_id: str, intent: Pending, ticket: Ticket) -> Pending:
        """Record the task a submission created (and what it cost)."""
        pending = replace(intent, task_id=ticket.task_id, credits=ticket.credits)
        if ticket.task_id is not None:
            self.keeper.update(lambda lock: lock.replace_pending(figure_id, intent, pending), durable=True)
            # After the lock: a task in this log but not in the lock would be hidden from
            # the next run's reconciliation if the process died in between.
            taken.add(self.root, [ticket.task_id])
            self.reporter.figure(
                figure_id, "submitted", f"task {ticket.task_id}, {ticket.credits} credits", ticket.credits
            )
        with self._mutex:
            self.result.credits_spent += ticket.credits
        return pending

    def _collect_or_forget(self, status: FigureStatus, ticket: Ticket, pending: Pending) -> None:
        try:
            self._collect(status, ticket, pending)
        except TaskNotFound as exc:  # the task we were just given vanished
            self.keeper.update(lambda lock: lock.replace_pending(status.id, pending, None))
            self._failed(status.id, str(exc))

    def _collect(self, status: FigureStatus, ticket: Ticket, pending: Pending) -> None:
        figure_id, current = status.id, status.resolved.fingerprint.digest
        generated = self.keeper.lock.record(figure_id).generated
        # The figure already has an image of its current inputs: an older task's image
        # would replace it, make the figure stale and be paid for again. It goes to history.
        older = pending.fingerprint != current and generated is not None and generated.fingerprint == current
        target = self.root / pending.output
        try:
            expected = sha256_file(target)
        except OSError as exc:
            self._failed(figure_id, f"cannot read {target}: {exc.strerror} (the task stays pending)")
            return
        try:
            location = self.backend.wait(ticket)
        except TaskNotFound:
            raise
        except FigureFailed as exc:
            # The task itself failed (and the API does not charge for it): nothing to collect.
            self.keeper.update(lambda lock: lock.replace_pending(figure_id, pending, None))
            self._failed(figure_id, str(exc), ticket.task_id)
            return
        except (ApiError, StillPending) as exc:
            self._failed(figure_id, f"{exc} {_STAYS_PENDING}", ticket.task_id)
            return
        how = self._how(pending)
        if older:
            self._collect_to_history(figure_id, ticket, location, pending, how, "older inputs than the image")
            return
        if pending.candidate is None and self._chosen_since(figure_id, pending):
            self._collect_to_history(figure_id, ticket, location, pending, how, "an image was chosen since")
            return
        if not self._claim_output(figure_id, pending):
            self._collect_to_history(
                figure_id, ticket, location, pending, how, f"candidate {pending.candidate}"
            )
            return
        try:
            digest = self._write(ticket, location, target, expected)
        except (ApiError, StillPending, images.ImageError, _Conflict, OSError) as exc:
            why = atomic.explain(exc, target) if isinstance(exc, OSError) else str(exc)
            self._failed(figure_id, f"{why} {_STAYS_PENDING}", ticket.task_id)
            return
        previous = self.keeper.lock.record(figure_id).generated
        generated = self._record(figure_id, ticket, pending, digest, how)
        self._store(target, generated, figure_id, changed(previous, dict(pending.parts)))
        with self._mutex:
            self.result.generated.append(figure_id)
        self.reporter.figure(figure_id, "written", pending.output)

    def _record(self, figure_id: str, ticket: Ticket, pending: Pending, digest: str, how: How) -> Generated:
        """Record the image ``pending``'s task made, now at its output, and retire the entry."""
        generated = Generated(
            fingerprint=pending.fingerprint,
            parts=pending.parts,
            output=pending.output,
            sha256=digest,
            generated_at=now(),
            how=how.value,
            task_id=ticket.task_id,
            credits=ticket.credits,
            model=ticket.job.request.model,
            resolution=ticket.job.request.resolution,
            candidate=pending.candidate,
        )
        self.keeper.update(lambda lock: lock.with_generated(figure_id, generated, done=pending))
        return generated

    def _how(self, pending: Pending) -> How:
        if self.backend.provisional:
            return How(self.backend.makes)
        return How.CANDIDATE if pending.candidate is not None else How.GENERATED

    def _claim_output(self, figure_id: str, pending: Pending) -> bool:
        """Whether this image goes to the output: always, unless it is a further candidate
        of a request whose image is already in place (those go to history only)."""
        if pending.candidate is None:
            return True
        key = (figure_id, pending.fingerprint)
        with self._mutex:
            current = self.keeper.lock.record(figure_id).generated
            # A sibling of this batch (an earlier run's, resumed) is in place already when
            # the output holds a candidate of the same request written after this was sent;
            # an image of the same request from before (sync --force) is replaced.
            sibling = (
                current is not None
                and current.fingerprint == pending.fingerprint
                and current.candidate is not None
                and current.generated_at >= pending.submitted_at
            )
            if key in self._claimed or sibling:
                return False
            self._claimed.add(key)
            return True

    def _collect_to_history(
        self, figure_id: str, ticket: Ticket, location: str, pending: Pending, how: How, what: str
    ) -> None:
        """Fetch an image that is not written to the output (a further candidate, or one for
        older inputs than the figure's image) into history only: every paid image is kept."""
        staging = state_dir(self.root) / f"candidate-{ticket.task_id or 'local'}{Path(pending.output).suffix}"
        try:
            with atomic.atomic_writer(staging) as handle:
                self.backend.fetch(ticket, location, handle)
                handle.flush()
                self._finish(Path(handle.name), ticket.job.fmt, handle)
            meta = Meta(
                pending.fingerprint,
                figure_id,
                how,
                ticket.task_id,
                ticket.credits,
                ticket.job.request.model,
                ticket.job.request.resolution,
                pending.candidate,
            )
            self.history.keep(staging, meta)
        except (ApiError, images.ImageError, StoreError) as exc:
            self._failed(figure_id, f"{exc} {_STAYS_PENDING}", ticket.task_id)
            return
        finally:
            staging.unlink(missing_ok=True)
        self.keeper.update(lambda lock: lock.replace_pending(figure_id, pending, None))
        self.reporter.figure(figure_id, "kept", f"task {ticket.task_id} in history ({what})")

    def _write(
        self, ticket: Ticket, location: str, target: Path, expected: str | None, *, same_only: bool = False
    ) -> str:
        """Fetch into a temp file beside ``target``, verify, convert, and rename into place.

        ``same_only``: only if the image is the bytes already there (``expected``).
        """
        with atomic.atomic_writer(target) as handle:
            self.backend.fetch(ticket, location, handle)
            handle.flush()
            digest = self._finish(Path(handle.name), ticket.job.fmt, handle)
            if self.backend.stop.is_set():
                raise Interrupted("interrupted before writing the image")
            if sha256_file(target) != expected:
                raise _Conflict(f"{target.name} changed while figbuild was working on it; kept it")
            if same_only and digest != expected:
                raise _Conflict(f"{target.name} is not the task's image; kept it")
            self._keep_existing(ticket.job.figure_id, target)
        return digest

    @staticmethod
    def _finish(staged: Path, fmt: str, handle: BinaryIO) -> str:
        """Check the staged image, convert it to ``fmt`` if it is another format, and return
        the sha256 of the bytes the rename will put in place."""
        handle.flush()
        if images.verify(staged) != fmt:
            converted = io.BytesIO()
            images.convert(staged, converted, fmt)
            handle.seek(0)
            handle.truncate()
            handle.write(converted.getvalue())
            handle.flush()
            images.verify(staged)
        digest = sha256_file(staged)
        assert digest is not None
        return digest

    def _keep_existing(self, figure_id: str, target: Path) -> None:
        """Store the image about to be replaced (a hand edit above all) before it is."""
        try:
            self.history.keep_before_overwrite(figure_id, target, self.keeper.lock.record(figure_id))
        except StoreError as exc:
            raise _Conflict(
                f"{target.name} was kept, since history could not store it first: {exc}"
            ) from None

    def _store(self, image: Path, generated: Generated, figure_id: str, what: str) -> None:
        try:
            self.history.keep(image, meta_of(figure_id, generated, changed=what))
        except StoreError as exc:  # the image is in place and recorded; only its history copy failed
            self.reporter.info(f"warning: {figure_id}: {exc}")

    def _failed(self, figure_id: str, reason: str, task_id: str | None = None, credits: int = 0) -> None:
        with self._mutex:
            self.result.failed.append((figure_id, reason))
        # Kept in the lock, which is committed: never the key, never a control character.
        failure = Failure(printable(redact(reason)), now(), task_id, credits)
        self.keeper.update(lambda lock: lock.with_failure(figure_id, failure))
        self.reporter.figure(figure_id, "failed", reason)
