"""Choose and set up the backend a command produces figures with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from figbuild.backend import Backend, PlaceholderBackend
from figbuild.errors import UsageError
from figbuild.report import Reporter


@contextlib.contextmanager
def backend_session(*, placeholder: bool, emulator: bool, reporter: Reporter) -> Iterator[Backend]:
    """The placeholder painter, the API against an in-process emulator, or the real API."""
    if placeholder and emulator:
        raise UsageError("--placeholder and --emulator exclude each other; pick one")
    if placeholder:
        yield PlaceholderBackend()
        return
    from figbuild.api import Client, Settings
    from figbuild.remote import ApiBackend

    if emulator:
        from figbuild.emulator import Emulator, EmulatorConfig

        with Emulator(EmulatorConfig()) as server:
            reporter.info(f"using the bundled emulator at {server.base_url} (no key, no credits)")
            with Client(Settings.for_emulator(server.base_url)) as client:
                yield ApiBackend(client)
        return
    with Client(Settings.from_env()) as client:
        yield ApiBackend(client)
