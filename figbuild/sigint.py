"""Ctrl-C for the commands that run until it: the emulator, ``watch``, ``gallery --serve``.

A process started with SIGINT ignored (a script's background job, ``figbuild emulator &``)
inherits the ignore, and Python then never raises KeyboardInterrupt: ``kill -INT`` and
Ctrl-C do nothing, and a server meant to stop on them runs until SIGKILL.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def stops_on_ctrl_c() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt inside the block, even if it was ignored on entry;
    the disposition found on entry is put back after. A handler of the caller's own is
    kept, and off the main thread (where signals cannot be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous not in (signal.SIG_IGN, signal.SIG_DFL, None):
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
