"""The API as a :class:`~figbuild.backends.base.Backend`: submit, reconcile, poll, download.

Polling is shared: every waiting thread reads one snapshot of task states, and
when several tasks are in flight the snapshot is refreshed with one
``GET /tasks`` page instead of one ``GET /task/:id`` per task.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import BinaryIO

from figbuild.backends.base import Backend, FigureFailed, Job, TaskNotFound, Ticket
from figbuild.backends.paperbanana.client import Client, Task
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.paperbanana.terms import TERMS
from figbuild.errors import AmbiguousSubmission, Interrupted, NotFound
from figbuild.lockfile import PROVISIONAL
from figbuild.report import Reporter
from figbuild.timestamps import now, parse_time

#: Seconds either side of a submission within which a listed task may be the one it created.
RECONCILE_SLACK = 120.0
#: Tasks in flight from which one list request replaces per-task polls.
BATCH_FROM = 3
#: Pages of ``GET /tasks`` read per refresh before falling back to per-task polls.
MAX_PAGES = 5


def created_at(task: Task) -> float | None:
    """When the server says ``task`` was created (epoch seconds), if it says."""
    try:
        return parse_time(task.created_at) if task.created_at else None
    except ValueError:
        return None


def matches(task: Task, parts: Mapping[str, str]) -> bool:
    """Whether ``task`` is what a request with these fingerprint parts creates."""
    prompt = hashlib.sha256(task.prompt.encode("utf-8")).hexdigest()
    return (
        task.type == parts["type"]
        and task.model == parts["model"]
        and prompt == parts["prompt"]
        and (task.resolution is None or task.resolution == parts["resolution"])
    )


class ApiBackend:
    paid = True
    terms = TERMS

    def __init__(
        self,
        client: Client | Callable[[], Client],
        policy: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        makes: str = "generated",
    ) -> None:
        """``client`` may be a factory: it is then called on first use, so a sync with
        nothing to do needs no key and no connection. ``policy`` paces polling and
        bounds resubmissions (the client's own policy governs single requests)."""
        self._client = client if isinstance(client, Client) else None
        self._make_client = client if not isinstance(client, Client) else None
        self._client_lock = threading.Lock()
        self.policy = policy or RetryPolicy()
        self.makes = makes
        self.provisional = makes in PROVISIONAL
        self.stop = stop or threading.Event()
        self._claimed: set[str] = set()
        self._claim_lock = threading.Lock()
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
        for _ in range(self.policy.resubmits + 1):
            if self.stop.is_set():
                raise Interrupted("interrupted before submitting")
            try:
                submission = self.client.generate(job.request.body())
            except AmbiguousSubmission as exc:
                found = self.find(job, exc.submitted_after)
                if found is not None:
                    return found
                continue
            self._claim(submission.task_id)
            return Ticket(job, submission.task_id, submission.credits_used, now())
        raise FigureFailed("the API kept failing after accepting the request; no task was found for it")

    def find(self, job: Job, since: float) -> Ticket | None:
        """A task created for ``job`` since ``since`` (epoch seconds) that no one claimed."""
        for task in self.client.iter_tasks(type=job.parts["type"]):
            created = created_at(task)
            if created is not None and created < since - RECONCILE_SLACK:
                break  # the list is newest first: everything further is older
            if matches(task, job.parts) and self._claim(task.task_id):
                return Ticket(job, task.task_id, task.credits_used, task.created_at or now())
        return None

    def _claim(self, task_id: str) -> bool:
        with self._claim_lock:
            if task_id in self._claimed:
                return False
            self._claimed.add(task_id)
            return True

    def wait(self, ticket: Ticket) -> str:
        """Poll until the task is done; return its image URL."""
        assert ticket.task_id is not None
        self._claim(ticket.task_id)
        with self._tracker.tracking(ticket.task_id):
            while True:
                # Wait first: a task is never done the moment it is submitted. Every
                # waiter wakes for the tracker's next round, so one refresh serves all.
                if self.stop.wait(self._tracker.next_delay()):
                    raise Interrupted(f"interrupted while waiting for task {ticket.task_id}")
                try:
                    task = self._tracker.status(ticket.task_id)
                except NotFound:
                    raise TaskNotFound(f"task {ticket.task_id} does not exist for this key") from None
                if task.status == "success":
                    if not task.output_urls:
                        raise FigureFailed(f"task {ticket.task_id} succeeded without an image URL")
                    return task.output_urls[0]
                if task.status == "failed":
                    raise FigureFailed(f"task {ticket.task_id} failed: {task.error or 'no reason given'}")

    def fetch(self, ticket: Ticket, location: str, out: BinaryIO) -> None:
        self.client.download(location, out)


class _Tracker:
    """One shared, recent view of the state of every task in flight.

    Polling runs in rounds on one schedule for all waiters (first after
    ``poll.initial``, then growing by ``poll.factor`` up to ``poll.cap``): the
    first waiter to wake refreshes, with one ``GET /tasks`` page for up to 100
    tasks when several are in flight, and the others read what it got.
    """

    def __init__(self, backend: ApiBackend, poll: PollSchedule) -> None:
        self.backend = backend
        self.poll = poll
        self._in_flight: set[str] = set()
        self._seen: dict[str, tuple[float, Task]] = {}
        self._interval = poll.initial
        self._refreshed_at: float | None = None
        self._lock = threading.Lock()
        self._refresh = threading.Lock()

    @contextlib.contextmanager
    def tracking(self, task_id: str) -> Iterator[None]:
        """Count ``task_id`` as in flight for the duration of the block."""
        with self._lock:
            self._in_flight.add(task_id)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight.discard(task_id)
                self._seen.pop(task_id, None)
                if not self._in_flight:  # the next task starts a new schedule
                    self._interval, self._refreshed_at = self.poll.initial, None

    def next_delay(self) -> float:
        """Seconds until the next polling round."""
        with self._lock:
            if self._refreshed_at is None:
                return self._interval
            return max(0.01, self._refreshed_at + self._interval - time.monotonic())

    def status(self, task_id: str) -> Task:
        """The task's state as of this round."""
        with self._refresh:  # one refresher at a time; the others reuse what it read
            now = time.monotonic()
            cached = self._seen.get(task_id)
            if cached is not None and now - cached[0] < self._interval / 2:
                return cached[1]
            with self._lock:
                in_flight = set(self._in_flight)
            if not (len(in_flight) >= BATCH_FROM and self._refresh_all(in_flight, task_id)):
                self._seen[task_id] = (time.monotonic(), self.backend.client.task(task_id))
            with self._lock:
                self._refreshed_at = now
                self._interval = min(self._interval * self.poll.factor, self.poll.cap)
            return self._seen[task_id][1]

    def _refresh_all(self, in_flight: set[str], wanted: str) -> bool:
        missing = set(in_flight)
        for page in range(1, MAX_PAGES + 1):
            result = self.backend.client.tasks(page=page, limit=100)
            stamp = time.monotonic()
            for task in result.tasks:
                if task.task_id in missing:
                    self._seen[task.task_id] = (stamp, task)
                    missing.discard(task.task_id)
            if not missing or page * result.limit >= result.total:
                break
        return wanted not in missing


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
            return stack.enter_context(Client(settings(stack), policy=policy, trace=trace))

        yield ApiBackend(connect, makes=makes)


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
