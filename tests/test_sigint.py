"""Ctrl-C stops the long-running commands even when SIGINT was ignored on entry."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from figbuild.sigint import stops_on_ctrl_c


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_ignored")
def test_an_ignored_sigint_raises_inside_the_block_and_is_ignored_again_after() -> None:
    with stops_on_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_handler_of_the_callers_own_is_kept() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with stops_on_ctrl_c():
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert calls == [signal.SIGINT]
