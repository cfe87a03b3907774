"""The fast-path oracle: for any history of edits, figbuild answers the same with its
caches warm, with the fast path off, and with no cache at all.

A seeded random sequence of operations is applied to one paper (a git work tree)
and, after each, one question (``status``, ``status --json``, ``sync --dry-run``, ``show`` or ``diff``)
is asked through the installed console script in every :data:`MODES`; their
stdout, stderr and exit codes must be byte-identical. The operations are what a
user, an editor, git or a killed run does to a paper: same-size edits with the
mtime put back, appends, manifest and lock edits, globbed files added and
removed, includes deleted and restored (and include candidates appearing),
outputs edited and deleted, folders swapped for symlinks out of the paper,
``.gitignore`` and git config changes (an ``[include]``d excludes file), the key,
base URL and store changed in the environment, real syncs, and sleeps of 0-3 s
(so that snapshots are written, then replayed).

A cache added later is covered as long as it lives under figbuild's cache folder
(``$XDG_CACHE_HOME/figbuild``): each mode has its own, and the cold mode a new,
empty one per question. A cache kept in the paper must be named in
:data:`PAPER_CACHES`, which the cold mode moves aside for its run. The reference
mode also sets ``FIGBUILD_NO_CACHE``: no paper cache at all (manifest, prompts,
content and output stat caches) and no shortcut (the schema checked by jsonschema,
not figbuild.schemacheck), so the warm modes' caches are compared with none.

A failure names the seed and the step, and lists the operations that led there.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from figbuild import atomic, cache, fastpath

SCRIPT = shutil.which("figbuild") or str(Path(sys.executable).with_name("figbuild"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(SCRIPT, os.X_OK), reason="the figbuild console script is not installed"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

#: Seeds and steps per seed: 5 x 60 = 300 steps in CI; FIGBUILD_ORACLE_STEPS raises it.
SEEDS = (1, 2, 3, 4, 5)
STEPS = int(os.environ.get("FIGBUILD_ORACLE_STEPS", "60"))
#: What is asked after each step: the fast path's questions, and show/diff, which read
#: the same stat cache (they once disagreed with sync after a stale one).
QUERIES = (("status",), ("status", "--json"), ("sync", "--dry-run"), ("show", "a"), ("diff", "b"))
#: Every this many steps, a quiet spell: inputs age, and the fast path must answer.
QUIET_EVERY = 10
#: Caches kept inside the paper (relative paths), moved aside for the cold runs.
PAPER_CACHES: tuple[str, ...] = ()
Outcome = tuple[int, bytes, bytes]
_ELAPSED = re.compile(rb"\[\s*\d+\.\d+s\]")


@dataclass(frozen=True)
class Mode:
    """One way of running figbuild: its own cache folder, the fast path on or off."""

    name: str
    fast: bool
    cold: bool = False
    #: FIGBUILD_NO_CACHE: the full path's caches and shortcuts off.
    uncached: bool = False


MODES = (
    Mode("fast path", fast=True),
    Mode("no fast path", fast=False),
    Mode("no cache", fast=False, cold=True),
    Mode("FIGBUILD_NO_CACHE", fast=False, cold=True, uncached=True),
)

MANIFEST = """\
version: 1
vars:
  method: FlowNet
figures:
  a:
    prompt: "Overview of {{ method }}."
    content: sections/main.tex
  b:
    prompt: The appendix.
    content: sections/app-*.tex
    output: figures/b.png
  c:
    prompt: Training.
    content:
      - file: notes.md
        section: Training
"""
FILES = {
    "sections/main.tex": "\\section{Method}\nWe fuse.\n\\input{parts/intro}\n",
    "sections/parts/intro.tex": "Intro text.\n",
    "sections/app-1.tex": "\\section{A}\nMore.\n",
    "notes.md": "# Intro\n\nHi.\n\n# Training\n\nTen epochs.\n",
}


@dataclass
class World:
    """The paper, the folders around it, and the environment every mode shares."""

    base: Path
    root: Path
    env: dict[str, str]
    rng: random.Random
    log: list[str] = field(default_factory=list)
    saved: dict[str, bytes] = field(default_factory=dict)

    def run(self, args: tuple[str, ...], mode: Mode) -> Outcome:
        env = {**self.env, fastpath.DISABLE_ENV: "" if mode.fast else "1"}
        env[cache.DISABLE_ENV] = "1" if mode.uncached else ""
        with tempfile.TemporaryDirectory(dir=self.base) as cold:
            caches = Path(cold) if mode.cold else self.base / "caches" / mode.name.replace(" ", "-")
            env["XDG_CACHE_HOME"] = str(caches)
            aside = self._aside() if mode.cold else []
            try:
                done = subprocess.run(
                    [SCRIPT, *args], cwd=self.root, env=env, capture_output=True, timeout=120
                )
            finally:
                for original, moved in aside:
                    moved.rename(original)
        # Progress lines carry the elapsed time (the fast path never replays one).
        return done.returncode, _ELAPSED.sub(b"[t]", done.stdout), _ELAPSED.sub(b"[t]", done.stderr)

    def _aside(self) -> list[tuple[Path, Path]]:
        moved = []
        for relative in PAPER_CACHES:
            original = self.root / relative
            if os.path.lexists(original):
                target = self.base / f"aside-{len(moved)}"
                original.rename(target)
                moved.append((original, target))
        return moved


def _make_world(base: Path, seed: int) -> World:
    root = base / "paper"
    root.mkdir()
    (root / "figures.yaml").write_text(MANIFEST)
    for relative, text in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    (base / "home").mkdir()
    (base / "config").mkdir()
    (base / "outside").mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base / "home"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PAPERBANANA_BASE_URL": "http://127.0.0.1:9/api/v1",
    }
    world = World(base, root, env, random.Random(seed))
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True, env=env)
    subprocess.run([*git, "config", "include.path", "../extra.gitconfig"], check=True, env=env)
    (base / "extra.gitconfig").write_text(f"[core]\n\texcludesFile = {base / 'ignores'}\n")
    (base / "ignores").write_text("")
    subprocess.run([*git, "add", "figures.yaml"], check=True, env=env)
    done = subprocess.run(
        [SCRIPT, "sync", "--placeholder"],
        cwd=root,
        env={**env, "XDG_CACHE_HOME": str(base / "sync-cache")},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done
    world.saved = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    return world


# -- the operations ------------------------------------------------------------------------


def _content(world: World) -> Path:
    return world.root / world.rng.choice(
        ["sections/main.tex", "sections/app-1.tex", "notes.md", "sections/parts/intro.tex"]
    )


def same_size_edit(world: World) -> str:
    path = _content(world)
    if not path.is_file():
        return f"(no {path.name})"
    st = path.stat()
    data = bytearray(path.read_bytes())
    if not data:
        return "(empty)"
    at = world.rng.randrange(len(data))
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the ctime shows it
    return f"same-size edit of {path.name}, mtime put back"


def append(world: World) -> str:
    path = _content(world)
    if not path.is_file():
        return f"(no {path.name})"
    with path.open("a") as handle:
        handle.write(world.rng.choice(["More.\n", "% a comment\n", "\n"]))
    return f"append to {path.name}"


def edit_manifest(world: World) -> str:
    text = (world.root / "figures.yaml").read_text()
    choice = world.rng.randrange(6)
    if choice == 0:
        text = (
            text.replace("FlowNet", "FlowNet2")
            if "FlowNet2" not in text
            else text.replace("FlowNet2", "FlowNet")
        )
    elif choice == 1:
        text = (
            text.replace("    output: figures/b.png\n", "    output: figures/b.png\n    frozen: true\n", 1)
            if "frozen" not in text
            else text.replace("    frozen: true\n", "")
        )
    elif choice == 2:
        text = (
            text.replace("prompt: Training.", "prompt: Training, again.")
            if "again" not in text
            else text.replace("prompt: Training, again.", "prompt: Training.")
        )
    elif choice == 3:
        # Invalid by the schema, or only near it: the shortcut must leave these to jsonschema.
        edit = world.rng.choice(
            ["    resolution: 8K\n", "    candidates: 2.0\n", "    colour: red\n", "    candidates: 9\n"]
        )
        marker = "    content: sections/main.tex\n"
        text = text.replace(marker, marker + edit, 1) if edit not in text else text.replace(edit, "")
    elif choice == 4:
        one, other = ("version: 1\n", "version: 1.0\n")[:: 1 if "version: 1\n" in text else -1]
        text = text.replace(one, other)
    else:
        text = world.saved["figures.yaml"].decode()
    (world.root / "figures.yaml").write_text(text)
    return f"manifest edit {choice}"


def edit_lock(world: World) -> str:
    import json

    lock = world.root / "figures.lock"
    choice = world.rng.randrange(3)
    if choice == 0 and lock.is_file():
        document = json.loads(lock.read_text())
        figures = document.get("figures", {})
        if figures:
            figures.pop(world.rng.choice(sorted(figures)))
        lock.write_text(json.dumps(document, indent=2) + "\n")
        return "a figure's record removed from the lock"
    if choice == 1 and lock.is_file():
        lock.write_text(lock.read_text() + " ")
        return "a space appended to the lock"
    lock.write_bytes(world.saved["figures.lock"])
    return "lock restored"


def glob_file(world: World) -> str:
    path = world.root / "sections" / "app-2.tex"
    if path.exists():
        path.unlink()
        return "sections/app-2.tex removed"
    path.write_text("\\section{B}\nEven more.\n")
    return "sections/app-2.tex added"


def include(world: World) -> str:
    parts = world.root / "sections" / "parts"
    choice = world.rng.randrange(3)
    if choice == 0 and (parts / "intro.tex").exists():
        (parts / "intro.tex").unlink()
        return "include parts/intro.tex deleted"
    if choice == 1:
        bare = parts / "intro"
        if bare.exists():
            bare.unlink()
            return "include candidate parts/intro removed"
        parts.mkdir(parents=True, exist_ok=True)
        bare.write_text("The bare candidate.\n")
        return "include candidate parts/intro appeared"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "intro.tex").write_bytes(world.saved["sections/parts/intro.tex"])
    return "include parts/intro.tex restored"


def output(world: World) -> str:
    name = world.rng.choice(["figures/a.png", "figures/b.png", "figures/c.png"])
    path = world.root / name
    choice = world.rng.randrange(3)
    if choice == 0 and path.is_file():
        path.write_bytes(path.read_bytes() + b"\0")
        return f"{name} edited by hand"
    if choice == 1 and path.is_file():
        path.unlink()
        return f"{name} deleted"
    if name in world.saved and path.parent.is_dir():
        path.write_bytes(world.saved[name])
        return f"{name} restored"
    return f"(no {name})"


def symlink_swap(world: World) -> str:
    folder = world.rng.choice(["sections", "figures"])
    here = world.root / folder
    away = world.base / "outside" / folder
    if here.is_symlink():
        here.unlink()
        away.rename(here)
        return f"{folder}/ back in the paper"
    if here.is_dir():
        here.rename(away)
        here.symlink_to(away)
        return f"{folder}/ swapped for a symlink out of the paper"
    return f"(no {folder}/)"


def gitignore(world: World) -> str:
    path = world.root / ".gitignore"
    if path.exists():
        path.unlink()
        return ".gitignore removed"
    path.write_text(world.rng.choice(["figures/b.png\n", "figures/\n", "*.tex\n"]))
    return f".gitignore: {path.read_text().strip()}"


def git_config(world: World) -> str:
    choice = world.rng.randrange(3)
    ignores = world.base / "ignores"
    if choice == 0:
        ignores.write_text("" if ignores.read_text() else "figures/a.png\n")
        return f"included excludes file: {ignores.read_text().strip() or '(empty)'}"
    extra = world.base / "extra.gitconfig"
    if choice == 1:
        text = extra.read_text()
        extra.write_text(
            text.replace("excludesFile", "#excludesFile") if "#" not in text else text.replace("#", "")
        )
        return "the included config's excludesFile toggled"
    config = world.root / ".git" / "config"
    text = config.read_text()
    config.write_text(
        text.replace("path = ../extra", "path = ../missing")
        if "extra" in text
        else text.replace("missing", "extra")
    )
    return "the [include] path toggled"


def environment(world: World) -> str:
    choice = world.rng.randrange(3)
    if choice == 0:
        if "PAPERBANANA_API_KEY" in world.env:
            del world.env["PAPERBANANA_API_KEY"]
            return "key unset"
        world.env["PAPERBANANA_API_KEY"] = "sk-oracle-key-123"
        return "key set"
    if choice == 1:
        url = world.env["PAPERBANANA_BASE_URL"]
        world.env["PAPERBANANA_BASE_URL"] = (
            "http://127.0.0.1:9/api/v2" if url.endswith("v1") else "http://127.0.0.1:9/api/v1"
        )
        return f"base URL {world.env['PAPERBANANA_BASE_URL']}"
    if "FIGBUILD_STORE" in world.env:
        del world.env["FIGBUILD_STORE"]
        return "FIGBUILD_STORE unset"
    world.env["FIGBUILD_STORE"] = str(world.base / "shared-store")
    return "FIGBUILD_STORE set"


def sync(world: World) -> str:
    env = {**world.env, "XDG_CACHE_HOME": str(world.base / "caches" / "fast-path")}
    done = subprocess.run(
        [SCRIPT, "sync", "--placeholder"], cwd=world.root, env=env, capture_output=True, timeout=120
    )
    return f"sync --placeholder (exit {done.returncode})"


def temp_file(world: World) -> str:
    folder = world.root / "figures"
    if not folder.is_dir():
        return "(no figures/)"
    name = f".a.png.{world.rng.randrange(10**8):08d}{atomic.TEMP_SUFFIX}"
    (folder / name).write_bytes(b"half an image")
    return f"a killed run's temp file {name}"


def sleep(world: World) -> str:
    seconds = world.rng.choice([0.0, 0.5, 2.2, 3.0])
    time.sleep(seconds)
    return f"sleep {seconds}s"


OPERATIONS: tuple[Callable[[World], str], ...] = (
    same_size_edit,
    append,
    edit_manifest,
    edit_lock,
    glob_file,
    include,
    output,
    symlink_swap,
    gitignore,
    git_config,
    environment,
    sync,
    temp_file,
    sleep,
    sleep,
)


def test_the_fast_path_knows_figbuilds_temp_suffix() -> None:
    assert fastpath.TEMP_SUFFIX == atomic.TEMP_SUFFIX


@pytest.mark.parametrize("seed", SEEDS)
def test_every_mode_answers_alike_for_any_history_of_edits(tmp_path: Path, seed: int) -> None:
    world = _make_world(tmp_path, seed)
    replayed = 0
    for step in range(STEPS):
        world.log.append(world.rng.choice(OPERATIONS)(world))
        quiet = step % QUIET_EVERY == QUIET_EVERY - 1
        if quiet:  # the paper as it was, aged past the racy window: a snapshot is written, then replayed
            _put_back(world)
            time.sleep(fastpath.RACY_NS / 1e9 + 0.2)
            world.log.append("quiet: the paper put back as it was, a sleep, then status twice")
        query = ("status",) if quiet else world.rng.choice(QUERIES)
        # A status, show or diff prints nothing of another run's, and each mode has its
        # own caches: asked at once, their answers cannot differ for it. A sync (even
        # --dry-run) holds the paper's run lock, and a run beside another may see a
        # folder it just touched as too recent to snapshot: those one after the other.
        together = query[0] != "sync" and not quiet
        with ThreadPoolExecutor(len(MODES) if together else 1) as pool:
            outcomes = pool.map(world.run, [query] * len(MODES), MODES)
            answers = dict(zip((mode.name for mode in MODES), outcomes, strict=True))
        if quiet:
            before = _snapshots(world)
            answers["fast path, again"] = world.run(query, MODES[0])
            # A full run that may be replayed rewrites its snapshot; a replay leaves them all.
            replayed += int(bool(before) and _snapshots(world) == before)
        reference = answers[MODES[-1].name]
        for name, answer in answers.items():
            assert answer == reference, _report(seed, step, query, name, answer, reference, world.log)
    assert len(world.log) >= STEPS
    if STEPS >= QUIET_EVERY:
        assert replayed > 0, "the fast path never answered: the oracle compared nothing"


def _put_back(world: World) -> None:
    """Undo every operation on the paper (not the environment's): a paper whose status
    may be replayed, whatever the history did to it."""
    for folder in ("sections", "figures"):
        here = world.root / folder
        if here.is_symlink():
            here.unlink()
            (world.base / "outside" / folder).rename(here)
    for relative in ("sections/app-2.tex", "sections/parts/intro", ".gitignore"):
        (world.root / relative).unlink(missing_ok=True)
    for relative, data in world.saved.items():
        path = world.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    for temp in (world.root / "figures").glob(f"*{atomic.TEMP_SUFFIX}"):
        temp.unlink()
    (world.base / "ignores").write_text("")
    extra = world.base / "extra.gitconfig"
    extra.write_text(extra.read_text().replace("#", ""))
    config = world.root / ".git" / "config"
    config.write_text(config.read_text().replace("missing", "extra"))


def _snapshots(world: World) -> dict[str, int]:
    folder = world.base / "caches" / "fast-path" / "figbuild" / "fastpath"
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.is_dir() else {}


def _report(
    seed: int, step: int, query: tuple[str, ...], name: str, got: Outcome, want: Outcome, log: list[str]
) -> str:
    history = "\n".join(f"  {i:3}: {entry}" for i, entry in enumerate(log))
    return (
        f"seed {seed}, step {step}: `figbuild {' '.join(query)}` with {name} differs "
        "from a run with no cache\n"
        f"got:  {got!r}\nwant: {want!r}\nafter:\n{history}"
    )
