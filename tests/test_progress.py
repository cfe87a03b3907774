"""The live sync display: it fits the terminal (cropped with "… N more"), says k of n
done, the credits, the time elapsed and an ETA; nothing but plain lines off a terminal.

The pty test runs a real `figbuild sync` of 60 figures, all in flight at once, in a
24-row pseudo-terminal, and plays its output through pyte, a terminal emulator: the
live block must never scroll (a redraw of a block taller than the screen leaves a copy
of it in the scrollback every time: 60 figures once left 1,970 lines there).
"""

from __future__ import annotations

import codecs
import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios

import pytest
from hypothesis import given
from hypothesis import strategies as st

from figbuild.emulator import Emulator
from figbuild.output import Console, LineReporter, Progress, TerminalReporter, live_block, reporter_for

from .conftest import EmulatorFactory, PaperFactory, simple_manifest

ROWS, COLUMNS = 24, 80
#: A line of the live block: a figure in flight, the "… N more" line, or the footer.
BLOCK = re.compile(r"^  (\S+ +\S+ +\d+\.\ds|… \d+ more in flight|\d+ of \d+ done.*|\d+ in flight.*)$")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _progress(in_flight: int, done: int = 0, total: int = 0) -> Progress:
    flight = [(f"figure-{i:03d}", "submitted", 1.0 + i) for i in range(in_flight)]
    return Progress(flight=flight, done=done, total=total, credits=30, elapsed=12.0)


@given(
    in_flight=st.integers(0, 300),
    rows=st.integers(1, 80),
    columns=st.integers(1, 300),
)
def test_the_block_always_fits_the_terminal(in_flight: int, rows: int, columns: int) -> None:
    lines = live_block(_progress(in_flight, total=in_flight), rows, columns)
    assert 1 <= len(lines) <= max(rows - 1, 1), "the block and the cursor's line fit on the screen"
    assert all(len(line) < max(columns, 2) for line in lines), "no line wraps"


def test_a_crowded_block_says_how_many_more_are_in_flight() -> None:
    lines = live_block(_progress(60, done=5, total=65), ROWS, COLUMNS)
    assert len(lines) == ROWS - 1
    shown = [line for line in lines if line.startswith("  figure-")]
    assert len(shown) == ROWS - 3
    assert lines[-2] == f"  … {60 - len(shown)} more in flight"
    assert lines[-1].startswith("  5 of 65 done, 60 in flight, 30 credits spent, 12.0s elapsed, ETA 2m24s")


def test_eta_is_unknown_until_a_figure_is_done() -> None:
    assert _progress(3, done=0, total=3).eta is None
    assert "ETA" not in live_block(_progress(3, done=0, total=3), ROWS, COLUMNS)[-1]


def test_k_of_n_counts_from_the_plan() -> None:
    err = Tty()
    reporter = TerminalReporter(Console(0, io.StringIO(), err), refresh=60)
    reporter.planned(3, 30)
    for figure_id in ("a", "b", "c"):
        reporter.figure(figure_id, "submitted", "task", 10)
    reporter.figure("a", "written", "figures/a.png")
    reporter.close()
    assert "1 of 3 done, 2 in flight, 30 credits spent" in err.getvalue()


def test_off_a_terminal_only_plain_lines() -> None:
    err = io.StringIO()
    reporter = reporter_for(Console(0, io.StringIO(), err))
    assert type(reporter) is LineReporter
    reporter.figure("a", "submitted", "task t1", 10)
    reporter.figure("a", "written", "figures/a.png")
    reporter.close()
    assert "\x1b" not in err.getvalue()
    assert len(err.getvalue().splitlines()) == 2


@pytest.fixture
def slow_emulator(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=3.0, rpm=6000)


@pytest.mark.slow
def test_sixty_figures_in_flight_in_a_24_row_terminal_never_scroll_the_block(
    make_paper: PaperFactory, slow_emulator: Emulator
) -> None:
    pyte = pytest.importorskip("pyte", reason="pyte (the test extra) plays the terminal")
    figures = {f"fig{i:02d}": {"prompt": f"figure number {i}", "mode": "standard"} for i in range(60)}
    root = make_paper(simple_manifest(**figures))
    env = {
        **os.environ,
        "TERM": "xterm",
        "PAPERBANANA_BASE_URL": slow_emulator.base_url,
        "PAPERBANANA_API_KEY": "sk-pty-test",
    }
    output = _run_in_pty([sys.executable, "-m", "figbuild", "-C", str(root), "sync", "--jobs", "60"], env)
    screen = pyte.HistoryScreen(COLUMNS, ROWS, history=100_000)
    stream = pyte.Stream(screen)
    saw_k_of_n = False
    for chunk in output:
        stream.feed(chunk)
        shown = [line.rstrip() for line in screen.display]
        block = [line for line in shown if BLOCK.match(line)]
        assert len(block) <= ROWS - 1
        saw_k_of_n |= any(re.search(r"\d+ of 60 done", line) for line in block)
    scrollback = ["".join(char.data for char in line.values()).rstrip() for line in screen.history.top]
    assert [line for line in scrollback if BLOCK.match(line)] == [], "no line of the block scrolled away"
    written = [line for line in scrollback + shown if re.search(r"fig\d\d: written", line)]
    assert len(written) == 60, "each finished figure is one line, kept"
    assert saw_k_of_n
    assert any("generated 60" in line for line in shown)


def _run_in_pty(argv: list[str], env: dict[str, str]) -> list[str]:
    """Run ``argv`` with a ROWS x COLUMNS pseudo-terminal as its stdin, stdout and stderr;
    everything it wrote, in the chunks it was read in."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        process.wait(timeout=120)
    assert process.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # "…" may span two reads
    return [decoder.decode(chunk) for chunk in chunks]
