"""``figbuild emulator``: the emulator in the foreground, until Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable

from figbuild.emulator.http import Emulator
from figbuild.emulator.service import EmulatorConfig
from figbuild.sigint import stops_on_ctrl_c


def serve(config: EmulatorConfig, ready: Callable[[str], None]) -> None:
    """Serve in the foreground until KeyboardInterrupt, which is re-raised after a clean stop.

    ``ready`` is called with the base URL once the port is listening. Ctrl-C stops it
    even when the process was started with SIGINT ignored.
    """
    with stops_on_ctrl_c():
        Emulator(config).serve_forever(ready)
