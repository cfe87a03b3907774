"""When to send a request again, and when to wait for a task: the one retry policy.

The client classifies what happened to an attempt into an :class:`Outcome`;
:meth:`RetryPolicy.decide` says what to do about it. Nothing else in figbuild
decides to resend, so the rules of the user contract ("Talking to the API") live here:

- a ``429`` was not acted on: wait (``Retry-After`` when given) and retry;
- a read that failed on the network or with a 5xx: retry with backoff;
- a ``POST /generate`` whose request may have reached the server (a dropped
  connection, a 5xx, an unreadable 2xx answer) is *ambiguous*: it is never
  resent before the server's task list was checked;
- a ``4xx`` (other than 429) is final.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum


class Outcome(Enum):
    """What one attempt of a request came to."""

    NOT_SENT = "not sent"  # could not connect: the server never saw it
    LOST = "lost"  # sent, then the connection broke or timed out
    RATE_LIMITED = "rate limited"  # 429: the server did not act on it
    SERVER_ERROR = "server error"  # 5xx
    UNREADABLE = "unreadable"  # 2xx whose body is not the documented JSON
    REFUSED = "refused"  # 4xx other than 429: final


class Action(Enum):
    RETRY = "retry"
    GIVE_UP = "give up"
    AMBIGUOUS = "ambiguous"  # a task may exist: reconcile before any resend


@dataclass(frozen=True)
class Decision:
    action: Action
    wait: float = 0.0


#: Seconds the API reference's example task took (created 10:00:00, completed 10:00:45):
#: what a real task is expected to take until the server shows otherwise.
REFERENCE_TASK_SECONDS = 45.0


@dataclass(frozen=True)
class PollSchedule:
    """How often tasks in flight are looked at (see :mod:`.polling`).

    ``expected``: the seconds a task is expected to take before anything was seen (None:
    discover it, first looking ``initial`` after the submission, then after gaps that
    grow with the task's age by ``factor``); while it is only that guess, tasks are also
    looked at the ``probes`` shares of it. A task not done when expected is looked at
    again after a ``late`` share of its age. Gaps are at least ``initial`` and at most ``cap``.
    """

    initial: float = 0.5
    factor: float = 1.5
    cap: float = 10.0
    expected: float | None = None
    late: float = 0.1
    #: Until the server has said anything of how long tasks take, ``expected`` is a guess:
    #: a task is also looked at these shares of it after its submission, so that a task
    #: quicker than the guess waits for the next share, not the whole guess (with only
    #: a quarter, a 20 s task waited out the 45 s guess, and a 1 s one 11 s). Each share
    #: is a round a batch pays while the guess is right (the server's durations, which
    #: the first round's task list shows for a key with history, end the guessing): two
    #: shares, so a task quicker than the guess waits at most ~3.6 times its time (a
    #: task of 0.45 of the guess or less) or 2.2 times (longer), never the whole guess
    #: for a task under half of it. Four shares (an eighth, a quarter, a half, three
    #: quarters) cost 50 figures regenerated on a new key 1.14 requests each (at 0.5 s
    #: and 5 s latency), two 1.08-1.10 (1.12 on a loaded machine: more collection rounds).
    probes: tuple[float, ...] = (0.125, 0.45)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class RetryPolicy:
    #: Attempts of one request, the first included.
    max_attempts: int = 6
    #: Longest one request may spend retrying, in seconds.
    deadline: float = 300.0
    #: Times an ambiguous POST may be sent again after the task list showed no task for it.
    resubmits: int = 2
    poll: PollSchedule = field(default_factory=lambda: PollSchedule(expected=REFERENCE_TASK_SECONDS))
    #: Longest a wait for one task may take, in seconds; after it the task stays pending.
    task_deadline: float = 1800.0
    #: Longest one image download may take, retries included (a trickle never trips the
    #: per-read timeout); after it that figure fails and its task stays pending.
    download_deadline: float = 600.0
    #: First backoff step in seconds (tests shorten it).
    backoff_base: float = 0.5

    def decide(
        self,
        outcome: Outcome,
        *,
        idempotent: bool,
        attempt: int,
        elapsed: float,
        retry_after: float | None = None,
    ) -> Decision:
        """What to do after ``attempt`` (1-based) came to ``outcome``, ``elapsed`` seconds in."""
        if outcome is Outcome.REFUSED:
            return Decision(Action.GIVE_UP)
        if not idempotent and outcome in (Outcome.LOST, Outcome.SERVER_ERROR, Outcome.UNREADABLE):
            return Decision(Action.AMBIGUOUS)
        if outcome is Outcome.UNREADABLE:
            return Decision(Action.GIVE_UP)
        wait = (
            retry_after
            if outcome is Outcome.RATE_LIMITED and retry_after is not None
            else backoff(attempt, self.backoff_base)
        )
        if attempt >= self.max_attempts or elapsed + wait > self.deadline:
            return Decision(Action.GIVE_UP)
        return Decision(Action.RETRY, wait)
