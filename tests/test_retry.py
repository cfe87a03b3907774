"""The one retry policy: every outcome, for idempotent and non-idempotent requests,
with attempts and time to spare, at the last attempt, and past the deadline."""

from __future__ import annotations

import itertools

import pytest

from figbuild.backends.paperbanana import retry
from figbuild.backends.paperbanana.retry import Action, Outcome, PollSchedule, RetryPolicy

POLICY = RetryPolicy()  # 6 attempts, 300 s
RETRY_AFTER = 2.0  # what a 429 asked for, in the cases that send it

#: (attempt, elapsed) for each budget: room left, the last attempt used, the deadline passed.
BUDGETS = {
    "room": (1, 0.0),
    "last attempt": (POLICY.max_attempts, 0.0),
    "past deadline": (1, POLICY.deadline + 0.5),
}

RETRY, GIVE_UP, AMBIGUOUS = Action.RETRY, Action.GIVE_UP, Action.AMBIGUOUS

#: outcome -> idempotent -> budget -> action
EXPECTED: dict[Outcome, dict[bool, dict[str, Action]]] = {
    # The server never saw it: always safe to send again while the budget lasts.
    Outcome.NOT_SENT: {
        True: {"room": RETRY, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
        False: {"room": RETRY, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
    },
    # A 429 was not acted on: the same, for a POST too.
    Outcome.RATE_LIMITED: {
        True: {"room": RETRY, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
        False: {"room": RETRY, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
    },
    # May have been acted on: a read is retried, a POST is ambiguous whatever the budget.
    Outcome.LOST: {
        True: {"room": RETRY, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
        False: {"room": AMBIGUOUS, "last attempt": AMBIGUOUS, "past deadline": AMBIGUOUS},
    },
    Outcome.SERVER_ERROR: {
        True: {"room": RETRY, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
        False: {"room": AMBIGUOUS, "last attempt": AMBIGUOUS, "past deadline": AMBIGUOUS},
    },
    # A 2xx that cannot be read: a read would only get the same again.
    Outcome.UNREADABLE: {
        True: {"room": GIVE_UP, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
        False: {"room": AMBIGUOUS, "last attempt": AMBIGUOUS, "past deadline": AMBIGUOUS},
    },
    # A 4xx is final.
    Outcome.REFUSED: {
        True: {"room": GIVE_UP, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
        False: {"room": GIVE_UP, "last attempt": GIVE_UP, "past deadline": GIVE_UP},
    },
}

CASES = list(itertools.product(Outcome, (True, False), BUDGETS))


def test_the_table_covers_every_outcome() -> None:
    assert set(EXPECTED) == set(Outcome)
    assert len(CASES) == len(Outcome) * 2 * len(BUDGETS)


@pytest.mark.parametrize(("outcome", "idempotent", "budget"), CASES)
def test_decide(outcome: Outcome, idempotent: bool, budget: str) -> None:
    attempt, elapsed = BUDGETS[budget]
    retry_after = RETRY_AFTER if outcome is Outcome.RATE_LIMITED else None
    decision = POLICY.decide(
        outcome, idempotent=idempotent, attempt=attempt, elapsed=elapsed, retry_after=retry_after
    )
    assert decision.action is EXPECTED[outcome][idempotent][budget]
    if decision.action is not Action.RETRY:
        assert decision.wait == 0.0
    elif outcome is Outcome.RATE_LIMITED:
        assert decision.wait == RETRY_AFTER
    else:
        assert 0.0 <= decision.wait <= min(30.0, 0.5 * 2**attempt)  # backoff for this attempt


def test_a_429_without_retry_after_backs_off() -> None:
    decision = POLICY.decide(Outcome.RATE_LIMITED, idempotent=True, attempt=2, elapsed=0.0)
    assert decision.action is Action.RETRY
    assert 0.0 <= decision.wait <= 2.0


def test_a_wait_that_would_cross_the_deadline_gives_up() -> None:
    policy = RetryPolicy(deadline=10.0)

    def after(elapsed: float) -> Action:
        return policy.decide(
            Outcome.RATE_LIMITED, idempotent=True, attempt=1, elapsed=elapsed, retry_after=4.0
        ).action

    assert after(6.0) is Action.RETRY  # lands exactly on the deadline
    assert after(6.5) is Action.GIVE_UP


def test_attempts_count_the_first_one() -> None:
    policy = RetryPolicy(max_attempts=3)
    actions = [
        policy.decide(Outcome.NOT_SENT, idempotent=True, attempt=n, elapsed=0.0).action for n in (1, 2, 3)
    ]
    assert actions == [Action.RETRY, Action.RETRY, Action.GIVE_UP]


def test_backoff_is_full_jitter_and_capped() -> None:
    values = [retry.backoff(attempt) for attempt in range(1, 12) for _ in range(20)]
    assert all(0 <= v <= 30 for v in values)
    assert max(retry.backoff(10) for _ in range(50)) > 1, "grows with attempts"
    assert all(0 <= retry.backoff(1) <= 1.0 for _ in range(50)), "base 0.5 * 2**1"


def test_defaults() -> None:
    assert (POLICY.max_attempts, POLICY.deadline, POLICY.resubmits) == (6, 300.0, 2)
    # The API reference's example task: created 10:00:00, completed 10:00:45.
    assert POLICY.poll == PollSchedule(initial=0.5, factor=1.5, cap=10.0, expected=45.0)
