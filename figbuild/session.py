"""Choose and set up the backend a command produces figures with."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace

from figbuild.backend import Backend, PlaceholderBackend
from figbuild.errors import UsageError
from figbuild.report import Reporter

#: Attempts per request with ``fail_fast``: one retry rides out a blip, not an outage.
FAIL_FAST_ATTEMPTS = 2
#: Seconds an emulated task takes with `--emulator`: quick, but long enough to show progress.
EMULATOR_LATENCY = 0.5


@contextlib.contextmanager
def backend_session(
    *,
    placeholder: bool,
    emulator: bool,
    reporter: Reporter,
    trace: Callable[[str], None] | None = None,
    fail_fast: bool = False,
) -> Iterator[Backend]:
    """The placeholder painter, the API against an in-process emulator, or the real API.

    ``fail_fast`` (for build hooks): give up on an unreachable network after one
    retry, instead of backing off for up to a minute on every build.
    """
    if placeholder and emulator:
        raise UsageError("--placeholder and --emulator exclude each other; pick one")
    if placeholder:
        yield PlaceholderBackend()
        return
    from figbuild.api import Client, Settings
    from figbuild.remote import ApiBackend

    with contextlib.ExitStack() as stack:

        def connect() -> Client:
            # Called on the first request: a sync with nothing to do needs no key,
            # no connection and no emulator.
            if not emulator:
                settings = Settings.from_env()
                if fail_fast:
                    settings = replace(settings, max_attempts=FAIL_FAST_ATTEMPTS, connect_timeout=5.0)
                return stack.enter_context(Client(settings, trace=trace))
            from figbuild.emulator import Emulator, EmulatorConfig

            server = stack.enter_context(Emulator(EmulatorConfig(latency=EMULATOR_LATENCY)))
            reporter.info(f"using the bundled emulator at {server.base_url} (no key, no credits)")
            return stack.enter_context(Client(Settings.for_emulator(server.base_url), trace=trace))

        yield ApiBackend(connect)
