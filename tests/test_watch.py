"""`figbuild watch` as a real subprocess with a real observer, against the emulator over loopback."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from figbuild.emulator import Emulator
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.watch import Scope

from .conftest import EmulatorFactory, PaperFactory, simple_manifest

SCRIPT = shutil.which("figbuild") or ""
pytestmark = [
    pytest.mark.skipif(not SCRIPT, reason="the figbuild console script is not installed"),
    pytest.mark.slow,
]
SETTLE = 0.4


class Watch:
    """A running `figbuild watch` whose output lines can be awaited."""

    def __init__(self, root: Path, server: Emulator, *args: str) -> None:
        env = {**os.environ, "PAPERBANANA_BASE_URL": server.base_url, "PAPERBANANA_API_KEY": "sk-watch"}
        self.process = subprocess.Popen(
            [SCRIPT, "-C", str(root), "watch", "--settle", str(SETTLE), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 15.0) -> str:
        """The next line matching ``pattern``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no line matching {pattern!r} within {timeout}s; saw:\n" + "\n".join(self.seen))
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def server(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(latency=0.2, image_scale=0.1)


@pytest.fixture
def paper(make_paper: PaperFactory) -> Path:
    return make_paper(
        {
            "version": 1,
            "figures": {
                "method": {"prompt": "The method.", "content": "sections/method.tex"},
                "appendix": {"prompt": "The appendix.", "content": "sections/appendix-*.tex"},
            },
        },
        {
            "sections/method.tex": "\\section{Method}\nWe fuse.\n",
            "sections/appendix-a.tex": "\\section{A}\nDetails.\n",
        },
    )


@pytest.fixture
def watching(paper: Path, server: Emulator) -> Iterator[Watch]:
    watch = Watch(paper, server)
    watch.expect(r"watching ")
    assert server.count("POST", "/api/v1/generate") == 2, "the first pass brings every figure up to date"
    yield watch
    if watch.process.poll() is None:
        watch.stop(signal.SIGKILL)


def posts(server: Emulator) -> int:
    return server.count("POST", "/api/v1/generate")


def test_a_burst_of_saves_regenerates_its_dependants_once(
    paper: Path, server: Emulator, watching: Watch
) -> None:
    target = paper / "sections/method.tex"
    for word in ("We", "We fuse", "We fuse depth", "We fuse depth and colour."):
        target.write_text(f"\\section{{Method}}\n{word}\n")
        time.sleep(SETTLE / 4)
    watching.expect(r"pass done: 1 generated")
    assert posts(server) == 3
    assert read(paper / "figures.lock").record("method").generated is not None


def test_a_comment_only_edit_regenerates_nothing(paper: Path, server: Emulator, watching: Watch) -> None:
    (paper / "sections/method.tex").write_text("\\section{Method} % the core\nWe   fuse.\n")
    watching.expect(r"changed: method.tex")
    watching.expect(r"^up to date")
    assert posts(server) == 2


def test_a_new_file_matching_a_glob_is_picked_up(paper: Path, server: Emulator, watching: Watch) -> None:
    (paper / "sections/appendix-b.tex").write_text("\\section{B}\nMore details.\n")
    watching.expect(r"appendix: written")
    assert posts(server) == 3
    generated = read(paper / "figures.lock").record("appendix").generated
    assert generated is not None
    assert "content:sections/appendix-b.tex" in generated.parts


def test_outputs_and_unrelated_files_do_not_trigger(paper: Path, server: Emulator, watching: Watch) -> None:
    (paper / "paper.aux").write_text("build byproduct")
    (paper / "sections/.method.tex.swp").write_text("swap")
    (paper / "figures/method.png").touch()
    (paper / "sections/method.tex").write_text("\\section{Method}\nA real edit.\n")
    line = watching.expect(r"changed: ")
    assert line == "changed: method.tex"


def test_an_invalid_manifest_is_reported_and_watching_goes_on(
    paper: Path, server: Emulator, watching: Watch
) -> None:
    manifest = paper / "figures.yaml"
    good = manifest.read_text()
    manifest.write_text(good + "  broken: [\n")
    watching.expect(r"invalid YAML")
    watching.expect(r"waiting for the manifest to be fixed")
    manifest.write_text(good.replace("The method.", "The method, revised."))
    watching.expect(r"method: written")
    assert posts(server) == 3


def test_the_credit_cap_stops_submissions(paper: Path, server: Emulator) -> None:
    watch = Watch(paper, server, "--max-credits", "30")
    try:
        watch.expect(r"watching ")
        assert posts(server) == 2  # 20 credits
        (paper / "sections/method.tex").write_text("\\section{Method}\nEdit one.\n")
        watch.expect(r"pass done: 1 generated")  # 30 credits: the cap
        (paper / "sections/method.tex").write_text("\\section{Method}\nEdit two.\n")
        watch.expect(r"credit cap reached: 30 of --max-credits 30")
        assert posts(server) == 3
    finally:
        watch.stop()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signals_stop_promptly_and_cleanly(paper: Path, server: Emulator, sig: int, code: int) -> None:
    server.config.latency = 5.0  # tasks still running when the signal comes
    watch = Watch(paper, server)
    watch.expect(r"submitted")
    watch.expect(r"submitted")
    started = time.monotonic()
    assert watch.stop(sig) == code
    assert time.monotonic() - started < 5
    lock = read(paper / "figures.lock")  # a valid lock ...
    assert sorted(p.task_id is not None for r in lock.figures.values() for p in r.pending) == [True, True]
    assert not list(paper.rglob("*.figbuild-tmp")), "... and no temp file left"


def test_an_included_file_is_in_the_watch_scope(make_paper: PaperFactory) -> None:
    root = make_paper(
        simple_manifest(a={"prompt": "A", "content": {"file": "main.tex", "section": "Method"}}),
        {
            "main.tex": "\\section{Method}\n\\input{sections/method}\n\\section{Other}\nx\n",
            "sections/method.tex": "The method.\n",
        },
    )
    paper = Paper.open(root)
    scope = Scope.of(paper, paper.resolve())
    assert scope.relevant(root / "sections" / "method.tex")
    assert scope.relevant(root / "main.tex")
    assert not scope.relevant(root / "sections" / "unrelated.tex")


def test_a_cap_the_plan_alone_exceeds_says_so_without_claiming_spending(
    paper: Path, server: Emulator
) -> None:
    watch = Watch(paper, server, "--max-credits", "15")
    try:
        line = watch.expect(r"not submitting")
        assert "the plan costs 20 credits, more than --max-credits 15" in line
        assert not any("credit cap reached: 0" in seen for seen in watch.seen)
        assert posts(server) == 0
    finally:
        watch.stop()


def test_draft_draws_placeholders_as_you_type_and_leaves_real_figures_to_sync(
    paper: Path, server: Emulator
) -> None:
    watch = Watch(paper, server, "--draft")
    try:
        watch.expect(r"draft pass done: 2 placeholders drawn")
        watch.expect(r"watching ")
        (paper / "sections/method.tex").write_text("\\section{Method}\nA draft sentence.\n")
        watch.expect(r"draft pass done: 1 placeholder drawn")
        generated = read(paper / "figures.lock").record("method").generated
        assert generated is not None
        assert generated.provisional
        assert posts(server) == 0, "no request, no credits"
    finally:
        assert watch.stop() == 130


def test_watch_keeps_the_disclosure_file_current(paper: Path, server: Emulator) -> None:
    manifest = (paper / "figures.yaml").read_text()
    (paper / "figures.yaml").write_text(manifest + "disclosure:\n  output: ai-disclosure.md\n")
    watch = Watch(paper, server)
    try:
        watch.expect(r"wrote ai-disclosure.md")
        task = read(paper / "figures.lock").record("method").generated.task_id  # type: ignore[union-attr]
        assert task is not None
        assert task in (paper / "ai-disclosure.md").read_text()
    finally:
        watch.stop()
