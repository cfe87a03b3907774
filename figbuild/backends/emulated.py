"""The Paper Banana backend against the bundled emulator, started in-process for one run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from figbuild.backends.base import Backend
from figbuild.report import Reporter

#: Seconds an emulated task takes with `--emulator`: quick, but long enough to show progress.
EMULATOR_LATENCY = 0.5


def open_session(
    reporter: Reporter, trace: Callable[[str], None] | None = None, *, fail_fast: bool = False
) -> contextlib.AbstractContextManager[Backend]:
    """The API backend, talking over loopback to an emulator started on first use."""
    from dataclasses import replace

    from figbuild.backends.paperbanana.backend import POLICY, connected
    from figbuild.backends.paperbanana.settings import Settings

    def settings(stack: contextlib.ExitStack) -> Settings:
        from figbuild.emulator import Emulator, EmulatorConfig

        server = stack.enter_context(Emulator(EmulatorConfig(latency=EMULATOR_LATENCY)))
        reporter.info(f"using the bundled emulator at {server.base_url} (no key, no credits)")
        return Settings.for_emulator(server.base_url)

    # Its images stand in for real ones: a real sync replaces them. Its tasks take
    # EMULATOR_LATENCY, not a real task's time: the poll schedule expects that.
    policy = replace(POLICY, poll=replace(POLICY.poll, expected=EMULATOR_LATENCY))
    return connected(settings, trace, makes="emulator", policy=policy)
