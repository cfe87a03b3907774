"""Choose and set up the backend a command produces figures with."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from figbuild.backend import Backend, PlaceholderBackend
from figbuild.errors import UsageError
from figbuild.report import Reporter

#: Seconds an emulated task takes with `--emulator`: quick, but long enough to show progress.
EMULATOR_LATENCY = 0.5


@contextlib.contextmanager
def backend_session(
    *,
    placeholder: bool,
    emulator: bool,
    reporter: Reporter,
    trace: Callable[[str], None] | None = None,
) -> Iterator[Backend]:
    """The placeholder painter, the API against an in-process emulator, or the real API."""
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
                return stack.enter_context(Client(Settings.from_env(), trace=trace))
            from figbuild.emulator import Emulator, EmulatorConfig

            server = stack.enter_context(Emulator(EmulatorConfig(latency=EMULATOR_LATENCY)))
            reporter.info(f"using the bundled emulator at {server.base_url} (no key, no credits)")
            return stack.enter_context(Client(Settings.for_emulator(server.base_url), trace=trace))

        yield ApiBackend(connect)
