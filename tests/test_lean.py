"""`figbuild.lean`: status, deps and sync run without click answer exactly as the CLI does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PaperFactory

pytestmark = pytest.mark.slow

MANIFEST = {
    "version": 1,
    "vars": {"method": "X"},
    "figures": {
        "a": {"prompt": "Figure of {{ method }}", "content": "a.tex"},
        "b": {"prompt": "Another", "content": [{"file": "a.tex", "section": "Nope"}]},
    },
}
#: The console script's way in (fast path off: the lean path, else click), and click's.
LEAN = "import sys; from figbuild.__main__ import main; sys.argv[1:] = sys.argv[1:]; main()"
CLICK = "import sys; from figbuild.cli import main; main(sys.argv[1:])"
ARGS = [
    ["status"],
    ["status", "--json", "--check"],
    ["-q", "status", "a"],
    ["status", "nope"],
    ["deps"],
    ["-v", "deps"],
    ["sync", "--dry-run"],
    ["sync", "--best-effort"],
    ["sync", "--best-effort", "--deps"],
    ["sync", "--deps", "--json"],
    ["sync", "--jobs", "0"],
    ["sync", "--max-credits", "-1"],
    ["sync", "--placeholder", "--emulator"],
    ["sync", "--max-credits", "0", "a"],
]


def _run(code: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "FIGBUILD_NO_FASTPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    return done.returncode, done.stdout, _ELAPSED.sub("[t]", done.stderr)


_ELAPSED = re.compile(r"\[\s*\d+\.\d+s\]")


@pytest.mark.parametrize("args", ARGS)
def test_without_click_the_answer_is_the_clis(
    make_paper: PaperFactory, tmp_path: Path, args: list[str]
) -> None:
    # Each on a paper of its own: a sync may draw placeholders.
    files = {"a.tex": "\\section{Method}\nText.\n"}
    lean, clicked = (make_paper(MANIFEST, files, root=tmp_path / name) for name in ("lean", "click"))
    assert _run(LEAN, args, lean) == _run(CLICK, args, clicked)
    assert _run(LEAN, ["-C", "lean", *args], tmp_path) == _run(CLICK, ["-C", "click", *args], tmp_path)


def test_status_after_an_edit_loads_no_heavy_module(make_paper: PaperFactory) -> None:
    # What an author runs after saving a content file (the fast path cannot answer): the
    # edited file is read again, and nothing else is validated or imported: not YAML,
    # the schema, Jinja2, click, nor the network stack, Pillow, watchdog or filelock.
    figures = {f"f{i}": {"prompt": "Figure {{ method }}", "content": f"s{i % 3}.tex"} for i in range(30)}
    files = {f"s{i}.tex": f"\\section{{Part {i}}}\nText {i}.\n" for i in range(3)}
    root = make_paper({"version": 1, "vars": {"method": "X"}, "figures": figures}, files)
    heavy = ("requests", "PIL", "watchdog", "jinja2", "jsonschema", "yaml", "click", "filelock")
    probe = (
        "import atexit, sys\n"
        f"heavy = {heavy!r}\n"
        "atexit.register(lambda: print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr))\n"
        "from figbuild.__main__ import main\n"
        "main()\n"
    )
    for command in (["status"], ["sync", "--best-effort", "--deps"]):
        cold = _run(probe, command, root)
        assert cold[0] == 0, cold
        (root / "s1.tex").write_text("\\section{Part 1}\nText 1, edited.\n")
        edited = _run(probe, command, root)
        assert edited[0] == 0, edited
        assert edited[2].splitlines()[-1] == "[]", (command, edited)
    assert "stale" in _run(probe, ["status"], root)[1]  # the edit was seen
