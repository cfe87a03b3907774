"""When to look at tasks in flight: rounds scheduled from what the server has shown.

Pure bookkeeping, no requests and no threads (the backend's tracker does those):
each task in flight is *due* when it is expected to be done, and a round of polling
is made when enough tasks are due to be worth one request.

A task is expected done ``duration`` seconds after its submission, where the
duration is, before this run saw a task finish, what the server reported of finished
tasks (``completed_at`` minus ``created_at`` in the task list: the key's earlier
tasks), else the schedule's prior (``PollSchedule.expected``); after, the prior as
long as what the run saw agrees with it, else the quickest task seen done (from
its submission to the answer that showed it done), unless that says less than the
server's whole seconds (a task first looked at long after it was done, by a probe
of a prior far too long): then what the server reported, within what the run saw.
The schedule lives as long as its backend: a ``figbuild watch`` session's later
passes start from what the earlier ones learned. Without any
of them, discovery: first look ``initial`` after the submission, then after gaps
growing with the task's age (``factor``), at most ``cap`` apart. A task not done
when expected is looked at again after a ``late`` share of its age (at most ``cap``).

While the expected duration is only the prior, tasks are also looked at the
schedule's ``probes`` shares of it (a prior far too long costs a few early looks,
not the whole wait). A round is made when the due tasks are at least half of the
most that were in flight at once (so a batch is collected in about two requests, and
the downloads of the first half overlap the wait for the rest), or when the first due task has
waited a quarter of the duration: a ready task is never left long to save a request.
Tasks due within ``initial`` after that moment join the round.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from figbuild.backends.paperbanana.retry import PollSchedule

#: A round is worth a request when this share of the batch is due (a half: ~2 rounds a batch).
GROUPS = 2
#: A due task waits at most this share of the expected duration for others to come due.
SLACK = 0.25
#: Expected times get this share of the duration as margin: the server's own delays.
MARGIN = 0.005
#: Seconds a duration the server reports may be off (its times are whole seconds).
REPORTED_PRECISION = 1.0
#: Durations the server reported that are kept (the most recent ones count).
HINTS_KEPT = 50


@dataclass
class _Flight:
    #: When its submission was answered (the tracker's clock): it was created by then.
    #: None: an earlier run's task.
    submitted: float | None
    #: When its submission was sent: it was created no earlier.
    sent: float | None
    #: When the latest round that showed it still working was sent.
    looked: float | None = None
    #: A round showed it done: its waiter collects it, no round need look again.
    finished: bool = False


class Schedule:
    """The tasks in flight and when to look at them next (times on one monotonic clock)."""

    def __init__(self, poll: PollSchedule) -> None:
        self.poll = poll
        self._flights: dict[str, _Flight] = {}
        #: Most tasks in flight at once since the flights last ran out.
        self._peak = 0
        #: Seconds: the quickest task seen done took at most this long.
        self._quickest: float | None = None
        #: Seconds: a task seen still working had been working this long.
        self._working_for = 0.0
        self._hints: list[float] = []
        #: next_round's answer until the flights or what is known of them change.
        self._next: float | None = None
        self._stale = True

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._flights

    def __len__(self) -> int:
        """Tasks in flight that no round has seen done yet."""
        return sum(not flight.finished for flight in self._flights.values())

    def add(self, task_id: str, submitted: float | None, *, sent: float | None = None) -> None:
        """Track ``task_id``, whose submission was sent at ``sent`` (default: ``submitted``)
        and answered at ``submitted`` (None: by an earlier run)."""
        self._flights.setdefault(task_id, _Flight(submitted, submitted if sent is None else sent))
        self._peak = max(self._peak, len(self._flights))
        self._stale = True

    def discard(self, task_id: str) -> None:
        self._flights.pop(task_id, None)
        if not self._flights:
            self._peak = 0
        self._stale = True

    def working(self, task_id: str, sent: float) -> None:
        """A round sent at ``sent`` showed the task still working."""
        flight = self._flights.get(task_id)
        if flight is not None:
            flight.looked = sent if flight.looked is None else max(flight.looked, sent)
            if flight.submitted is not None:  # at least: it was created before `submitted`
                self._working_for = max(self._working_for, sent - flight.submitted)
            self._stale = True

    def done(self, task_id: str, received: float) -> None:
        """A round answered at ``received`` showed the task done (succeeded or failed)."""
        flight = self._flights.get(task_id)
        if flight is None:
            return
        flight.finished, self._stale = True, True
        if flight.sent is not None:
            took = max(0.0, received - flight.sent)  # at most: it was created after `sent`
            self._quickest = took if self._quickest is None else min(self._quickest, took)

    def reported(self, seconds: float) -> None:
        """The server reported a finished task that took ``seconds`` (its own clock)."""
        if seconds >= 0:
            self._hints = [*self._hints[-(HINTS_KEPT - 1) :], seconds]
            self._stale = True

    @property
    def guessing(self) -> bool:
        """Whether the expected duration is the prior alone: no task seen done, none reported."""
        return self._guessing()

    @property
    def reported_durations(self) -> tuple[float, ...]:
        """What the server reported of finished tasks, oldest first (the latest ``HINTS_KEPT``)."""
        return tuple(self._hints)

    def duration(self) -> float | None:
        """Seconds a task is expected to take, or None when nothing says (discovery).

        The expectation (what the server reported, else the prior) stands while what
        this run saw agrees with it: a task took longer than the longest seen working,
        and no longer than the quickest seen done (a look made late says only that)."""
        if self._quickest is None:
            return statistics.median(self._hints) if self._hints else self.poll.expected
        # The server's durations are whole seconds: once the run saw tasks finish, only
        # the prior is precise enough to stand beside what it saw...
        guess = self.poll.expected
        if guess is not None and self._working_for < guess <= self._quickest:
            return guess
        # ...unless what it saw is looser still: a task first looked at long after it was
        # done (a probe of a prior far too long) says only that it took at most that.
        if self._hints and self._quickest - self._working_for > REPORTED_PRECISION:
            reported = statistics.median(self._hints)
            if reported <= self._working_for:  # seen working past it: whole seconds allow one more
                reported += REPORTED_PRECISION
            return min(self._quickest, reported)
        return self._quickest

    def due(self, task_id: str) -> float:
        """When ``task_id`` is next worth looking at (-inf: at once)."""
        flight = self._flights[task_id]
        if flight.submitted is None:  # an earlier run's: it may be done already
            return -math.inf if flight.looked is None else flight.looked + self._gap(self.poll.cap)
        duration = self.duration()
        if duration is None:
            if flight.looked is None:
                return flight.submitted + self.poll.initial
            age = flight.looked - flight.submitted
            return flight.looked + self._gap(age * (self.poll.factor - 1))
        expected = flight.submitted + duration * (1 + MARGIN)
        if self._guessing():  # the prior alone: look earlier too, in case it is long
            looked = -math.inf if flight.looked is None else flight.looked
            for share in self.poll.probes:
                # A probe teaches nothing once some task was seen working at that age.
                unknown = share * duration > self._working_for + self.poll.initial
                if unknown and flight.submitted + share * duration > looked:
                    return min(expected, flight.submitted + share * duration)
        if flight.looked is None or flight.looked < expected:
            return expected
        return flight.looked + self._gap((flight.looked - flight.submitted) * self.poll.late)

    def _guessing(self) -> bool:
        """Whether the expected duration is the prior alone: no task seen done, none reported."""
        return self._quickest is None and not self._hints and self.poll.expected is not None

    def _gap(self, seconds: float) -> float:
        return min(self.poll.cap, max(self.poll.initial, seconds))

    def next_round(self) -> float | None:
        """When the next round is worth making (None: nothing in flight)."""
        if self._stale:
            self._next, self._stale = self._next_round(), False
        return self._next

    def _next_round(self) -> float | None:
        dues = sorted(self.due(task_id) for task_id, flight in self._flights.items() if not flight.finished)
        if not dues:
            return None
        group = max(1, math.ceil(self._peak / GROUPS))
        enough = dues[min(group, len(dues)) - 1]
        duration = self.duration()
        patience = SLACK * duration if duration is not None else 0.0
        when = min(enough, dues[0] + patience)
        # Tasks due within the shortest gap after it join this round rather than make
        # the next one (a burst of submissions comes due as a burst).
        return max([when, *(due for due in dues if when < due <= when + self.poll.initial)])

    def due_by(self, when: float) -> list[str]:
        """The tasks due at ``when``, most overdue first."""
        flights = self._flights.items()
        dues = {task_id: self.due(task_id) for task_id, flight in flights if not flight.finished}
        return sorted((t for t, due in dues.items() if due <= when), key=dues.__getitem__)
