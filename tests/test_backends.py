"""The backend registry: names, flags, lazy imports, and one session of each kind."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys

import pytest

from figbuild import backends
from figbuild.backends import BACKENDS, DEFAULT, choose, default_terms, open_backend
from figbuild.backends.base import Job
from figbuild.backends.paperbanana.terms import TERMS
from figbuild.emulator.service import CREDIT_COST
from figbuild.errors import UsageError
from figbuild.images import sniff_format
from figbuild.report import NullReporter
from figbuild.request import Request


class Lines:
    """A Reporter that keeps the info lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def figure(self, figure_id: str, event: str, detail: str = "", credits: int = 0) -> None:
        pass


def job() -> Job:
    request = Request("standard", "A small diagram", "nano-banana-pro", "1K", "1:1")
    return Job("fig", request, "PNG", {})


@pytest.mark.parametrize(
    ("placeholder", "emulator", "name"),
    [(False, False, DEFAULT), (True, False, "placeholder"), (False, True, "emulator")],
)
def test_choose_maps_the_flags_to_a_registered_name(placeholder: bool, emulator: bool, name: str) -> None:
    assert choose(placeholder=placeholder, emulator=emulator) == name
    assert name in BACKENDS


def test_choose_refuses_both_flags() -> None:
    with pytest.raises(UsageError, match="exclude each other"):
        choose(placeholder=True, emulator=True)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_registered_module_has_an_open_session(name: str) -> None:
    assert callable(importlib.import_module(BACKENDS[name]).open_session)


def test_naming_a_backend_loads_no_http_stack() -> None:
    probe = (
        "import sys\n"
        "from figbuild import backends\n"
        "backends.choose(placeholder=False, emulator=True); backends.default_terms()\n"
        "print(sorted(m for m in ('requests', 'figbuild.emulator') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_default_terms_are_the_paper_banana_api_and_match_the_emulator() -> None:
    assert backends.default_terms() is TERMS
    assert dict(default_terms().credits) == CREDIT_COST
    assert default_terms().cost(job().request) == 10


def test_placeholder_session_draws_for_free() -> None:
    with open_backend("placeholder", reporter=NullReporter()) as backend:
        assert (backend.provisional, backend.paid, backend.balance()) == (True, False, None)
        assert backend.concurrency() >= 1
        ticket = backend.submit(job())
        assert (ticket.task_id, ticket.credits) == (None, 0)
        assert backend.find(job(), 0.0) is None
        location = backend.wait(ticket)
        out = io.BytesIO()
        backend.fetch(ticket, location, out)
    assert sniff_format(out.getvalue()) == "PNG"


def test_emulator_session_is_the_api_backend_on_a_loopback_emulator() -> None:
    reporter = Lines()
    with open_backend("emulator", reporter=reporter) as backend:
        # Its images stand in for real ones: recorded as "emulator", replaced by a real sync.
        assert (backend.provisional, backend.paid, backend.makes) == (True, True, "emulator")
        assert backend.balance() == 75_000
    assert any("using the bundled emulator at http://127.0.0.1:" in line for line in reporter.lines)
