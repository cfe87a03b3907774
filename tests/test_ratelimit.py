"""The client-side rate limiter: a burst stays under the server's limit, with no 429."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.ratelimit import RateLimiter
from figbuild.backends.paperbanana.settings import Settings

from .conftest import EmulatorFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limiter_admits_rpm_per_window_then_waits_for_the_oldest_answer() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, window=10.0, clock=clock)
    for _ in range(3):
        limiter.acquire()
        limiter.release()
    admitted = threading.Event()

    def fourth() -> None:
        limiter.acquire()
        admitted.set()

    thread = threading.Thread(target=fourth)
    thread.start()
    assert not admitted.wait(0.1), "the window is full"
    clock.now = 10.0  # the oldest answer leaves the window
    limiter.set_rpm(3)  # wakes the waiter to look at the (fake) clock again
    assert admitted.wait(2.0)
    thread.join()


def test_requests_in_flight_count_against_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, window=10.0, clock=clock)
    limiter.acquire()
    limiter.acquire()  # both still waiting for their answers
    blocked = threading.Event()
    thread = threading.Thread(target=lambda: (limiter.acquire(), blocked.set()))
    thread.start()
    assert not blocked.wait(0.1)
    limiter.release()
    clock.now = 10.0
    assert blocked.wait(2.0)
    thread.join()


def test_a_burst_of_200_requests_sees_no_429(make_emulator: EmulatorFactory) -> None:
    # The emulator's limit is 60 per 1 s window (60 RPM scaled to a short window);
    # 200 requests from 16 threads at once must all pass without a single 429.
    server = make_emulator(rpm=60, window=1.0)
    settings = Settings(base_url=server.base_url, key="sk-burst", window=1.0)
    with Client(settings) as client:
        client.credits()  # learns the limit: 60 per window
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _: client.credits(), range(199)))
    assert len(results) == 199
    api = [r for r in server.records() if r.path.startswith("/api/")]
    assert len(api) == 200
    assert [r for r in api if r.status == 429] == []
