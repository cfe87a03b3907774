"""What figbuild prints: the live terminal display, plain logs, and redaction."""

from __future__ import annotations

import io

import pytest

from figbuild.backends import redact
from figbuild.output import Console, LineReporter, TerminalReporter, reporter_for


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_display_shows_figures_in_flight_then_clears() -> None:
    err = Tty()
    reporter = TerminalReporter(Console(0, io.StringIO(), err), refresh=60)
    reporter.figure("overview", "generating", "nano-banana-pro, 2K")
    reporter.figure("overview", "submitted", "task t1, 15 credits", 15)
    reporter.figure("teaser", "submitted", "task t2, 10 credits", 10)
    live = err.getvalue()
    assert "overview" in live
    assert "2 in flight, 25 credits spent" in live
    reporter.figure("overview", "written", "figures/overview.png")
    assert "\x1b[" in err.getvalue()[len(live) :], "the live block is redrawn, not appended"
    assert "1 in flight, 25 credits spent" in err.getvalue()[len(live) :]
    reporter.close()
    assert err.getvalue().endswith("\x1b[J"), "the live block is cleared at the end"
    assert "overview: written (figures/overview.png)" in err.getvalue()


@pytest.mark.parametrize(
    ("verbosity", "tty", "kind"),
    [(0, True, TerminalReporter), (0, False, LineReporter), (-1, True, LineReporter)],
)
def test_reporter_choice(verbosity: int, tty: bool, kind: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    reporter = reporter_for(Console(verbosity, io.StringIO(), Tty() if tty else io.StringIO()))
    assert type(reporter) is kind
    reporter.close()


def test_quiet_line_reporter_prints_only_failures() -> None:
    err = io.StringIO()
    reporter = LineReporter(Console(-1, io.StringIO(), err))
    reporter.figure("a", "written", "figures/a.png")
    reporter.info("progress")
    reporter.figure("b", "failed", "task failed: no reason given")
    assert err.getvalue().count("\n") == 1
    assert "b: failed" in err.getvalue()


def test_redact_hides_the_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERBANANA_API_KEY", "sk-abcdef123456")
    assert redact("Bearer sk-abcdef123456 failed") == "Bearer sk-*** failed"


@pytest.mark.parametrize("raw", [" sk-abcdef123456", "sk-abcdef123456\n", "sk-abcdef123456"])
def test_redact_hides_every_form_of_a_key_with_stray_whitespace(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    # The server echoes the key it received (stripped) in its 401 message.
    monkeypatch.setenv("PAPERBANANA_API_KEY", raw)
    for echoed in ["invalid key sk-abcdef123456", f"invalid key {raw}!", "key='sk-abcdef123456'"]:
        assert "abcdef123456" not in redact(echoed)


def test_printed_lines_escape_control_characters_from_elsewhere() -> None:
    err = io.StringIO()
    Console(err=err).error("server said: \x1b[2J\x1b]0;owned\x07 done\r")
    text = err.getvalue()
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\x07" not in text
    assert text.endswith("done\\r\n")
