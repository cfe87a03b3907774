"""The API as a :class:`~figbuild.backends.base.Backend`: submit, reconcile, poll, download.

Polling is shared: every waiting thread reads one view of task states, refreshed
in rounds that :mod:`.polling` schedules from what the server has shown, with one
``GET /tasks`` page for every task due instead of one ``GET /task/:id`` each.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, BinaryIO

from figbuild.backends.base import (
    Backend,
    FigureFailed,
    Job,
    StillPending,
    TaskNotFound,
    Ticket,
    Unconfirmed,
)
from figbuild.backends.paperbanana.polling import Schedule
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.paperbanana.terms import TERMS
from figbuild.errors import AmbiguousSubmission, ApiError, Interrupted, NotFound
from figbuild.lockfile import PROVISIONAL
from figbuild.report import Reporter
from figbuild.safetext import printable
from figbuild.timestamps import now, parse_time

if TYPE_CHECKING:
    # Imported when a client is made: a sync that stops at "no key" never loads requests.
    from figbuild.backends.paperbanana.client import Client, Task

#: Seconds of slack on how long ago, by the server's clock, a task a submission made
#: may have been created: whole-second times, and the server's own delays.
RECONCILE_SLACK = 10.0
#: Tasks in flight from which a round reads the task list (one request for all of them,
#: the others' states too) instead of ``GET /task/:id`` per due task. So does a round
#: while the schedule has only its prior, for what the list shows of the key's finished tasks.
BATCH_FROM = 3
#: Longest a waiter sleeps before looking at Ctrl-C again, in seconds.
WAKE = 0.1
#: Pages of ``GET /tasks`` read per refresh before falling back to per-task polls.
MAX_PAGES = 5
#: States a task passes through before it is done; any other but success/failed is unknown.
WORKING = frozenset({"pending", "processing"})
#: The policy of the API sessions this module opens (tests shorten its waits).
POLICY = RetryPolicy()


class _Ambiguous(Exception):
    """A first look at the task list found tasks another open submission may own."""


def created_at(task: Task) -> float | None:
    """When the server says ``task`` was created (epoch seconds), if it says."""
    try:
        return parse_time(task.created_at) if task.created_at else None
    except ValueError:
        return None


def request_key(parts: Mapping[str, str]) -> tuple[str, ...]:
    """What a listed task shows of the request that created it: type, model,
    resolution, aspect ratio and prompt (as its digest). Not the content: the API's
    task view does not echo ``options.content``, so two requests that differ only in
    content look the same on the server (see :meth:`ApiBackend.find`)."""
    return tuple(parts.get(name, "") for name in ("type", "model", "resolution", "aspect_ratio", "prompt"))


def matches(task: Task, parts: Mapping[str, str]) -> bool:
    """Whether ``task`` shows the request with these fingerprint parts (fields the
    server leaves out of the view are not held against it)."""
    prompt = hashlib.sha256(task.prompt.encode("utf-8")).hexdigest()
    return (
        task.type == parts["type"]
        and task.model == parts["model"]
        and prompt == parts["prompt"]
        and (task.resolution is None or task.resolution == parts.get("resolution"))
        and (task.aspect_ratio is None or task.aspect_ratio == parts.get("aspect_ratio"))
    )


class ApiBackend:
    paid = True
    terms = TERMS

    def __init__(
        self,
        client: Client | Callable[[], Client],
        policy: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        *,
        makes: str = "generated",
    ) -> None:
        """``client`` may be a factory: it is then called on first use, so a sync with
        nothing to do needs no key and no connection. ``policy`` paces polling and
        bounds resubmissions (the client's own policy governs single requests).
        ``makes``: how its images are recorded ("emulator": they only stand in)."""
        # A Client is not callable; a factory is.
        self._client = None if callable(client) else client
        self._make_client = client if callable(client) else None
        self._client_lock = threading.Lock()
        self.policy = policy or RetryPolicy()
        self.makes = makes
        self.provisional = makes in PROVISIONAL
        self.stop = stop or threading.Event()
        self._claimed: set[str] = set()
        self._claim_lock = threading.Lock()
        #: Submissions of this run not yet tied to a task, by what the server shows of them,
        #: and those of them that are reconciling (no answer will come to them).
        self._open: Counter[tuple[str, ...]] = Counter()
        self._finding: Counter[tuple[str, ...]] = Counter()
        self._settled = threading.Condition(self._claim_lock)
        self._tracker = _Tracker(self, self.policy.poll)

    @property
    def client(self) -> Client:
        with self._client_lock:
            if self._client is None:
                assert self._make_client is not None
                self._client = self._make_client()
            return self._client

    def balance(self) -> int | None:
        return self.client.credits().remaining_credits

    def concurrency(self) -> int:
        """A minute's worth of submissions at the key's rate limit: tasks take tens of
        seconds, so this keeps the limit, not the number in flight, the pace of a
        large sync (polls are batched and cost next to nothing)."""
        return max(4, self.client.limiter.rpm)

    def known(self, task_ids: Iterable[str]) -> None:
        with self._claim_lock:
            self._claimed.update(task_ids)

    def submit(self, job: Job) -> Ticket:
        """``POST /generate`` once; an ambiguous failure is reconciled before any resend."""
        with self._opening(job):
            for _ in range(self.policy.resubmits + 1):
                if self.stop.is_set():
                    raise Interrupted("interrupted before submitting")
                try:
                    submission = self.client.generate(job.request.body())
                except AmbiguousSubmission as exc:
                    found = self._find(job, exc.submitted_after)
                    if found is not None:
                        return found
                    continue
                self._claim(submission.task_id)
                self._tracker.submitted(submission.task_id, submission.sent)
                return Ticket(job, submission.task_id, submission.credits_used, now())
        raise FigureFailed("the API kept failing after accepting the request; no task was found for it")

    def find(self, job: Job, since: float) -> Ticket | None:
        """The task a submission of ``job`` made at ``since`` (epoch seconds) created, or
        None when the task list shows none. Raises Unconfirmed when it cannot tell."""
        with self._opening(job):
            return self._find(job, since)

    @contextlib.contextmanager
    def _opening(self, job: Job) -> Iterator[None]:
        """Count ``job`` as a submission of this run whose task is not known yet."""
        key = request_key(job.parts)
        with self._claim_lock:
            self._open[key] += 1
        try:
            yield
        finally:
            with self._claim_lock:
                self._open[key] -= 1
                self._settled.notify_all()

    def _find(self, job: Job, since: float) -> Ticket | None:
        """A task for ``job`` created since ``since`` that nothing else may own.

        The server does not show a task's content, so a task is only taken when it
        is the one candidate and no other submission of this run that looks the same
        is still open (it might be that one's, whose answer is on its way). While
        others are open, this waits for their answers (each then claims its task)
        and looks once more. Still ambiguous, the submission stays unconfirmed:
        guessing could give one figure another's image and leave a paid task uncollected.
        """
        missing = [name for name in ("type", "model", "prompt") if name not in job.parts]
        if missing:
            # A lock edited by hand or by a bad merge: the record cannot say what to look for.
            raise Unconfirmed(
                f"figures.lock records a submission without its request's {missing[0]!r} part, so the "
                "task it may have created cannot be looked for; check the key's task list, then remove "
                "that pending entry from figures.lock (or restore the lock from version control)"
            )
        key = request_key(job.parts)
        with self._claim_lock:
            self._finding[key] += 1
        try:
            try:
                return self._find_once(job, since, settled=False)
            except _Ambiguous:
                pass
            deadline = time.monotonic() + self.policy.task_deadline
            with self._claim_lock:
                # Only submissions still waiting for an answer will settle: not those
                # reconciling as this one is. Woken each 0.2 s to see Ctrl-C.
                while self._open[key] - self._finding[key] > 0 and time.monotonic() < deadline:
                    if self.stop.is_set():  # the mark stays: the task may exist
                        raise Unconfirmed(
                            "interrupted while looking for the task a submission may have created; "
                            "it stays recorded and the next sync looks again"
                        )
                    self._settled.wait(0.2)
            return self._find_once(job, since, settled=True)
        finally:
            with self._claim_lock:
                self._finding[key] -= 1
                self._settled.notify_all()

    def _find_once(self, job: Job, since: float, *, settled: bool) -> Ticket | None:
        """One look at the task list; _Ambiguous when another open submission may own
        what it shows (Unconfirmed once ``settled``)."""
        try:
            listed = list(self._listed_since(job, since))
        except ApiError as exc:
            raise Unconfirmed(
                f"could not read the task list to look for the task a submission may have created "
                f"({exc.message}); it stays recorded and the next sync looks again"
            ) from None
        key = request_key(job.parts)
        with self._claim_lock:
            candidates = [task for task in listed if task.task_id not in self._claimed]
            if not candidates:
                return None
            others_open = self._open[key] - self._finding[key] > 0
            if len(candidates) > 1 or self._open[key] > 1:
                if not settled and (others_open or self._finding[key] > 1):
                    raise _Ambiguous
                if len(candidates) > 1 or others_open:
                    raise Unconfirmed(
                        f"{len(candidates)} task(s) on the server match a submission that got no answer, "
                        "and another request that looks the same (same prompt and options; the server "
                        "does not show content) may own them; it stays recorded and the next sync looks again"
                    )
            task = candidates[0]
            self._claimed.add(task.task_id)
        return Ticket(job, task.task_id, task.credits_used, task.created_at or now())

    def _listed_since(self, job: Job, since: float) -> Iterator[Task]:
        """Tasks that show ``job``'s request and may have been created by a submission
        made at ``since`` (epoch seconds, our clock).

        Our clock is never compared with the server's (they may be minutes apart, and
        a proxy's Date header says nothing of the server's): the newest listed task
        was created no later than the server's "now", so a task created by the
        submission is at most as old, by the server's own clock, as the time that has
        passed here since it (a duration, which no offset changes), plus slack.
        """
        elapsed = max(0.0, time.time() - since)
        earliest: float | None = None
        for task in self.client.iter_tasks(type=job.parts["type"]):
            created = created_at(task)
            if created is not None:
                if earliest is None:  # the newest task: the list is newest first
                    earliest = created - elapsed - RECONCILE_SLACK
                elif created < earliest:
                    return  # everything further is older
            if matches(task, job.parts):
                yield task

    def _claim(self, task_id: str) -> bool:
        with self._claim_lock:
            if task_id in self._claimed:
                return False
            self._claimed.add(task_id)
            return True

    def wait(self, ticket: Ticket) -> str:
        """Wait until the task is done, at most ``policy.task_deadline`` seconds; return
        its image URL. A task that cannot be collected now raises StillPending."""
        assert ticket.task_id is not None
        self._claim(ticket.task_id)
        deadline = time.monotonic() + self.policy.task_deadline
        with self._tracker.tracking(ticket.task_id):
            try:
                task = self._tracker.result(ticket.task_id, self.stop, deadline)
            except NotFound:
                raise TaskNotFound(f"task {ticket.task_id} does not exist for this key") from None
        if task.status == "success":
            if not task.output_urls:
                raise StillPending(f"task {ticket.task_id} succeeded but the API gave no image URL")
            return task.output_urls[0]
        if task.status == "failed":
            raise FigureFailed(f"task {ticket.task_id} failed: {task.error or 'no reason given'}")
        raise StillPending(
            f"task {ticket.task_id} is {printable(task.status)!r}, a state figbuild does not "
            "know (the API documents pending, processing, success, failed)"
        )

    def fetch(self, ticket: Ticket, location: str, out: BinaryIO) -> None:
        self.client.download(location, out, stop=self.stop)


class _Tracker:
    """One shared, recent view of the state of every task in flight.

    Polling runs in rounds for all waiters, when :class:`~.polling.Schedule` says
    enough tasks are due: one ``GET /tasks`` page (100 tasks) when several are in
    flight, one ``GET /task/:id`` when one is. One waiter makes the round; every
    waiter reads what it got.
    """

    def __init__(self, backend: ApiBackend, poll: PollSchedule) -> None:
        self.backend = backend
        self.schedule = Schedule(poll)
        #: Task id -> when its POST was sent (if known) and answered.
        self._submitted: dict[str, tuple[float | None, float]] = {}
        self._seen: dict[str, Task] = {}
        self._looked: dict[str, float] = {}  # task id -> when the round that last showed it was sent
        self._gone: set[str] = set()  # tasks the server said do not exist
        self._hinted: set[str] = set()  # finished tasks whose duration the schedule has
        self._cond = threading.Condition()
        self._polling = False

    def submitted(self, task_id: str, sent: float | None) -> None:
        """``task_id``'s submission, sent at ``sent`` (monotonic), was answered just now."""
        answered = time.monotonic()
        with self._cond:
            self._submitted[task_id] = (answered if sent is None else sent, answered)

    @contextlib.contextmanager
    def tracking(self, task_id: str) -> Iterator[None]:
        """Count ``task_id`` as in flight for the duration of the block."""
        with self._cond:
            sent, answered = self._submitted.pop(task_id, (None, None))
            self.schedule.add(task_id, answered, sent=sent)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self.schedule.discard(task_id)
                self._seen.pop(task_id, None)
                self._looked.pop(task_id, None)
                self._gone.discard(task_id)
                self._cond.notify_all()

    def result(self, task_id: str, stop: threading.Event, deadline: float) -> Task:
        """The task's view once a round shows it out of the working states. Raises
        NotFound, Interrupted when ``stop`` is set, StillPending after ``deadline``."""
        while True:
            with self._cond:
                due = self._await_turn(task_id, stop, deadline)
                if not isinstance(due, list):
                    return due
                self._polling = True
            try:
                self._round(due)
            finally:
                with self._cond:
                    self._polling = False
                    self._cond.notify_all()

    def _await_turn(self, task_id: str, stop: threading.Event, deadline: float) -> Task | list[str]:
        """Under the lock: the task's final view, or the tasks due when it is this
        waiter's turn to make a round. Wakes every ``WAKE`` seconds to see Ctrl-C."""
        while True:
            if task_id in self._gone:
                raise NotFound(f"task {task_id} not found")
            seen = self._seen.get(task_id)
            if seen is not None and seen.status not in WORKING:
                return seen
            if stop.is_set():
                raise Interrupted(f"interrupted while waiting for task {task_id}")
            now = time.monotonic()
            if now > deadline and not self._polling:
                # Given up only when a look sent after the deadline showed it working.
                if self._looked.get(task_id, -math.inf) >= deadline:
                    raise StillPending(
                        f"task {task_id} did not finish within {self.backend.policy.task_deadline:g} s"
                    )
                return sorted({task_id, *self.schedule.due_by(now)})
            when = None if self._polling else self.schedule.next_round()
            if when is not None and when <= now:
                return self.schedule.due_by(now)
            left = WAKE if when is None else min(WAKE, when - now)
            self._cond.wait(max(0.001, left if now > deadline else min(left, deadline - now + 0.001)))

    def _round(self, due: list[str]) -> None:
        """Look at the due tasks (and whatever else one list page shows)."""
        client = self.backend.client
        missing = set(due)
        with self._cond:
            batch = len(self.schedule) >= BATCH_FROM
            # The prior is all there is: one list page costs what the one task's look
            # costs, and shows the key's finished tasks, whose durations end its probes.
            learning = self.schedule.guessing
        if batch or learning:
            for page in range(1, (MAX_PAGES if batch else 1) + 1):
                sent = time.monotonic()
                result = client.tasks(page=page, limit=100)
                self._learn(result.tasks, sent, time.monotonic())
                missing.difference_update(task.task_id for task in result.tasks)
                if not missing or page * result.limit >= result.total:
                    break
        for task_id in sorted(missing):  # one due, or not on the pages read
            sent = time.monotonic()
            try:
                task = client.task(task_id)
            except NotFound:
                with self._cond:
                    self._gone.add(task_id)
                continue
            self._learn((task,), sent, time.monotonic())

    def _learn(self, tasks: Iterable[Task], sent: float, received: float) -> None:
        with self._cond:
            for task in tasks:
                if task.task_id in self.schedule:
                    self._seen[task.task_id] = task
                    self._looked[task.task_id] = sent
                    if task.status in WORKING:
                        self.schedule.working(task.task_id, sent)
                    else:
                        self.schedule.done(task.task_id, received)
                if task.status == "success" and task.task_id not in self._hinted:
                    took = _took(task)
                    if took is not None:
                        self._hinted.add(task.task_id)
                        self.schedule.reported(took)


def _took(task: Task) -> float | None:
    """Seconds a finished task took by the server's own clock, if it says."""
    try:
        if task.created_at and task.completed_at:
            return parse_time(task.completed_at) - parse_time(task.created_at)
    except ValueError:
        pass
    return None


@contextlib.contextmanager
def connected(
    settings: Callable[[contextlib.ExitStack], Settings],
    trace: Callable[[str], None] | None = None,
    makes: str = "generated",
    policy: RetryPolicy | None = None,
) -> Iterator[Backend]:
    """An ApiBackend whose client is made on first use from ``settings(stack)``: a sync
    with nothing to do needs no key, no connection and no emulator."""
    with contextlib.ExitStack() as stack:

        def connect() -> Client:
            found = settings(stack)  # no key: refused before the HTTP stack is loaded
            from figbuild.backends.paperbanana.client import Client

            return stack.enter_context(Client(found, policy=policy or POLICY, trace=trace))

        yield ApiBackend(connect, policy or POLICY, makes=makes)


#: Attempts per request with ``fail_fast``: one retry rides out a blip, not an outage.
FAIL_FAST = RetryPolicy(max_attempts=2)


def open_session(
    reporter: Reporter, trace: Callable[[str], None] | None = None, *, fail_fast: bool = False
) -> contextlib.AbstractContextManager[Backend]:
    """The real API, with the key and base URL from the environment."""

    def settings(stack: contextlib.ExitStack) -> Settings:
        found = Settings.from_env()
        return replace(found, connect_timeout=5.0) if fail_fast else found

    return connected(settings, trace, policy=FAIL_FAST if fail_fast else None)
