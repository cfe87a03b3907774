"""A local Paper Banana-compatible server, for trying figbuild and for tests.

:mod:`.service` is the API without sockets (task store, credits, rate limit), with
:mod:`.checks` (what a request may be) and :mod:`.faults` (what can go wrong);
:mod:`.http` serves it on loopback, :mod:`.server` runs it in the foreground.
"""

from figbuild.emulator.faults import Faults, Injection
from figbuild.emulator.http import Emulator
from figbuild.emulator.server import serve
from figbuild.emulator.service import (
    EmulatorConfig,
    Reply,
    Request,
    RequestRecord,
    Service,
)

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "Faults",
    "Injection",
    "Reply",
    "Request",
    "RequestRecord",
    "Service",
    "serve",
]
