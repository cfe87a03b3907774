"""The worker of a sync: everything a run does for one figure (resume, restore,
adopt, generate, collect), on worker threads, recording every step in the lock and
every image in the history store. :mod:`figbuild.engine` plans the run and drives it.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from figbuild import atomic, images, sent, taken, team
from figbuild.backends import redact
from figbuild.backends.base import Backend, FigureFailed, Job, StillPending, TaskNotFound, Ticket, Unconfirmed
from figbuild.content import ContentError, ContentReader
from figbuild.digests import sha256_file
from figbuild.errors import (
    ApiError,
    Forbidden,
    Interrupted,
    PaymentRequired,
    Unauthorized,
)
from figbuild.history import History, changed, meta_of, pinned
from figbuild.keeper import LockKeeper
from figbuild.lockfile import Failure, Generated, Pending
from figbuild.paper import Paper
from figbuild.plan import Plan, Source
from figbuild.provenance import Provenance
from figbuild.report import Reporter
from figbuild.safetext import printable
from figbuild.standins import PAID
from figbuild.state import FigureStatus
from figbuild.statedir import state_dir
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


@dataclass
class Work:
    """Everything a run does for one figure, in the order it is done."""

    status: FigureStatus
    resume: list[Pending] = field(default_factory=list)
    restore: Source | None = None
    adopt: bool = False
    generate: tuple[int | None, ...] = ()  # the candidate number of each image to pay for
    reclaim: list[Pending] = field(default_factory=list)
    topup: bool = False  # more candidates for the image in place: into history only


def works_of(plan: Plan) -> list[Work]:
    works: dict[str, Work] = {}

    def of(status: FigureStatus) -> Work:
        return works.setdefault(status.id, Work(status))

    for status, pending in plan.resume:
        of(status).resume.append(pending)
    for status, source in plan.restore:
        of(status).restore = source
    for status in plan.adopt:
        of(status).adopt = True
    for status in plan.generate:
        of(status).generate = plan.numbers(status)
        of(status).topup = status.id in plan.topup
    for status, pending in plan.reclaim:
        of(status).reclaim.append(pending)
    return list(works.values())


_STAYS_PENDING = "(the task stays pending; the next sync collects it)"


class Conflict(Exception):
    """The output changed on disk while figbuild worked on it; it was kept."""


class Runner:
    """Produces figures on worker threads, recording every step in the lock and every
    image in the history store."""

    def __init__(
        self,
        paper: Paper,
        backend: Backend,
        reporter: Reporter,
        keeper: LockKeeper,
        result: SyncResult,
        history: History,
        remote: team.Team | None = None,
    ) -> None:
        self.root = paper.root
        self.team = remote
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

    def run(self, work: Work) -> None:
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
        if work.topup:
            with self._mutex:  # the image in place stays: every top-up goes to history
                self._claimed.add((status.id, status.fingerprint))
        if work.generate:
            self._generate(status, work.generate)
        if self.team is not None:  # a task still pending keeps the claim, for whoever collects it
            record = self.keeper.lock.record(status.id)
            waiting = any(p.fingerprint == status.fingerprint for p in record.pending)
            self.team.release(status.fingerprint, keep=waiting)

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
                stamp = self.history.stamp_for(source.entry, data) if source.entry else None
                fmt = images.format_for(status.output)
                digest = self._finish(Path(handle.name), fmt, handle, stamp, keep=True)
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
        if (
            old is not None
            and old.sha256 == status.output_sha256
            and current.made_by(old.fingerprint, old.parts)
        ):
            # Under the previous content rules too: the same text was sent, the record moves
            # to the digest of these rules and keeps how and for what the image was made.
            generated = replace(
                old, output=status.output, fingerprint=current.digest, parts=dict(current.parts)
            )
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
            stamp = _provenance(ticket, pending, self._how(pending))
            digest = self._write(ticket, location, target, on_disk, stamp, same_only=True)
        except (ApiError, FigureFailed, StillPending, images.ImageError, Conflict, OSError):
            return  # a task not done yet stays pending too: the next sync looks again
        self._record(status.id, ticket, pending, digest, self._how(pending))
        self.reporter.info(f"{status.id}: {pending.output} is the image of task {pending.task_id}; recorded")

    # -- paid: submit, resume, collect ---------------------------------------

    def _generate(self, status: FigureStatus, numbers: tuple[int | None, ...] = (None,)) -> None:
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
        if self.team is not None and self.backend.paid and not self._team_turn(status):
            return
        self.keeper.update(lambda lock: lock.with_failure(figure.id, None))  # a new attempt
        submitted: list[tuple[Ticket, Pending]] = []
        for number in numbers:
            detail = f"{job.request.model}, {job.request.resolution}"
            if number is not None:
                detail += f", candidate {number}"
            self.reporter.figure(figure.id, "generating", detail)
            intent = Pending(
                task_id=None,
                fingerprint=fingerprint.digest,
                parts=dict(fingerprint.parts),
                output=figure.output,
                credits=self.backend.terms.cost(job.request),
                submitted_at=now(),
                candidate=number,
            )
            ticket = self._submit(figure.id, job, intent)
            if ticket is None:
                break
            submitted.append((ticket, self._confirm(figure.id, intent, ticket)))
        # For `diff`, best effort (a record not written costs only a later diff): kept
        # while the task runs, not before its submission, which every figure waits on.
        sent.record(self.root, fingerprint.digest, request)
        for ticket, pending in submitted:
            self._collect_or_forget(status, ticket, pending)

    def _team_turn(self, status: FigureStatus) -> bool:
        """Whether to pay: not while another machine makes this request (its image is put in
        place when it comes), nor for a dead machine's tasks (collected instead)."""
        assert self.team is not None
        turn = self.team.turn(status, self.backend.stop)
        if turn.source is not None:
            self._restore(status, turn.source)
        for pending in turn.pending:
            self.keeper.update(lambda lock: lock.with_pending(status.id, pending), durable=True)  # noqa: B023
            self._resume(status, pending)
        if turn.failure is not None:
            self._failed(status.id, f"{turn.failure}; sync again later")
        return turn.pay

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
        (a restore, accept or pick, or an image of the same request): that choice stands.
        A placeholder drawn since only stands in, and an image an older task made,
        collected since (a run killed between two submissions), was made, not chosen:
        a paid image of the request still wanted replaces either."""
        generated = self.keeper.lock.record(figure_id).generated
        if generated is None or generated.provisional or generated.generated_at <= pending.submitted_at:
            return False
        return generated.fingerprint == pending.fingerprint or How.of(generated.how) not in PAID

    def _confirm(self, figure_id: str, intent: Pending, ticket: Ticket) -> Pending:
        """Record the task a submission created (and what it cost)."""
        pending = replace(intent, task_id=ticket.task_id, credits=ticket.credits)
        if ticket.task_id is not None:
            self.keeper.update(lambda lock: lock.replace_pending(figure_id, intent, pending), durable=True)
            # After the lock: a task in this log but not in the lock would be hidden from
            # the next run's reconciliation if the process died in between.
            taken.add(self.root, [ticket.task_id])
            if self.team is not None:
                self.team.task(intent.fingerprint, ticket.task_id, intent.candidate, ticket.credits)
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
            digest = self._write(ticket, location, target, expected, _provenance(ticket, pending, how))
        except (ApiError, StillPending, images.ImageError, Conflict, OSError) as exc:
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
                self._finish(Path(handle.name), ticket.job.fmt, handle, _provenance(ticket, pending, how))
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
        self,
        ticket: Ticket,
        location: str,
        target: Path,
        expected: str | None,
        stamp: Provenance,
        *,
        same_only: bool = False,
    ) -> str:
        """Fetch into a temp file beside ``target``, verify, convert, and rename into place.

        ``same_only``: only if the image is the bytes already there (``expected``).
        """
        with atomic.atomic_writer(target) as handle:
            self.backend.fetch(ticket, location, handle)
            handle.flush()
            digest = self._finish(Path(handle.name), ticket.job.fmt, handle, stamp)
            if self.backend.stop.is_set():
                raise Interrupted("interrupted before writing the image")
            if sha256_file(target) != expected:
                raise Conflict(f"{target.name} changed while figbuild was working on it; kept it")
            if same_only and digest != expected:
                raise Conflict(f"{target.name} is not the task's image; kept it")
            self._keep_existing(ticket.job.figure_id, target)
        return digest

    @staticmethod
    def _finish(
        staged: Path, fmt: str, handle: BinaryIO, stamp: Provenance | None = None, *, keep: bool = False
    ) -> str:
        """Check the staged image, convert it to ``fmt`` if it is another format, write its
        provenance into it (``keep``: unless it already carries the same) and return the
        sha256 of the bytes the rename will put in place."""
        handle.flush()
        converted = images.verify(staged) != fmt
        if converted:
            buffer = io.BytesIO()
            images.convert(staged, buffer, fmt)
            handle.seek(0)
            handle.truncate()
            handle.write(buffer.getvalue())
            handle.flush()
            images.verify(staged)
        if stamp is not None:
            from figbuild.provenance import stamp_file

            stamp_file(handle, staged, fmt, stamp, keep=keep and not converted)
        digest = sha256_file(staged)
        assert digest is not None
        return digest

    def _keep_existing(self, figure_id: str, target: Path) -> None:
        """Store the image about to be replaced (a hand edit above all) before it is."""
        try:
            self.history.keep_before_overwrite(figure_id, target, self.keeper.lock.record(figure_id))
        except StoreError as exc:
            raise Conflict(f"{target.name} was kept, since history could not store it first: {exc}") from None

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


def _provenance(ticket: Ticket, pending: Pending, how: How) -> Provenance:
    """What an image a task made says about itself: from the request and the task, so that
    writing the same task's image again gives the same bytes."""
    request = ticket.job.request
    return Provenance(
        how.value,
        model=request.model,
        task_id=ticket.task_id,
        fingerprint=pending.fingerprint,
        generated_at=pending.submitted_at,
        resolution=request.resolution,
        candidate=pending.candidate,
    )
