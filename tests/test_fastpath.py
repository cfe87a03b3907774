"""The no-op fast path answers exactly as the full CLI would, or not at all.

Runs the installed console script as subprocesses: once with the fast path off
(``FIGBUILD_NO_FASTPATH=1``, which writes the snapshot) and once with it on, and
compares stdout, stderr and the exit code byte for byte. A snapshot is only written
for inputs older than two seconds, so each fixture ages its papers once.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from figbuild import fastpath
from figbuild.cache import cache_home
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import Pending, read, write
from figbuild.manifest import find

SCRIPT = shutil.which("figbuild") or ""
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCRIPT, reason="the figbuild console script is not installed"),
]

Outcome = tuple[int, bytes, bytes]
#: Progress lines carry the elapsed time; the fast path never replays a run that shows one.
_ELAPSED = re.compile(rb"\[\s*\d+\.\d+s\]")


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FIGBUILD_", "PAPERBANANA_", "XDG_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    home.mkdir(parents=True, exist_ok=True)
    # A loopback port nothing listens on: an accidental real request fails at once.
    return {**env, "HOME": str(home), "PAPERBANANA_BASE_URL": "http://127.0.0.1:9/api/v1"}


def run(args: list[str], cwd: Path, env: dict[str, str], *, fast: bool = True) -> Outcome:
    env = {**env, fastpath.DISABLE_ENV: "" if fast else "1"}
    done = subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, timeout=120)
    return done.returncode, _ELAPSED.sub(b"[t]", done.stdout), _ELAPSED.sub(b"[t]", done.stderr)


def snapshots(env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Every snapshot file with its inode and mtime: a full run that may be replayed rewrites one."""
    directory = Path(env["HOME"]) / ".cache" / "figbuild" / "fastpath"
    if not directory.is_dir():
        return {}
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}


def compare(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[bool, Outcome]:
    """Full path, then fast path: byte-identical. Returns whether the full run could be
    replayed (it wrote a snapshot) and the outcome."""
    before = snapshots(env)
    full = run(args, cwd, env, fast=False)
    written = snapshots(env)
    fast = run(args, cwd, env)
    assert fast == full, (args, cwd)
    if written != before:
        # It could be replayed, so it was: a full run would have rewritten the snapshot.
        assert snapshots(env) == written, ("the fast path was not taken", args, cwd)
    return written != before, full


MANIFEST = {
    "version": 1,
    "vars": {"method": "FlowNet"},
    "figures": {
        "a": {"prompt": "Overview of {{ method }}.", "content": "sections/method.tex"},
        "b": {
            "prompt": "The training loop.",
            "content": [{"file": "paper.md", "section": "Training"}, "sections/app-*.tex"],
            "resolution": "2K",
        },
    },
}
FILES = {
    "sections/method.tex": "\\section{Method}\nWe encode, fuse and decode. % a note\n",
    "sections/app-1.tex": "\\section{Appendix}\nMore detail.\n",
    "paper.md": "# Intro\n\nHello.\n\n# Training\n\nWe train for 10 epochs.\n",
}


def _write_paper(root: Path, manifest: dict[str, object] = MANIFEST) -> None:
    for relative, text in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")


def _generate(root: Path, env: dict[str, str]) -> None:
    """Real (not provisional) images for every figure, from an emulator over loopback."""
    with Emulator(EmulatorConfig(latency=0.1, image_scale=0.1)) as server:
        paid = {**env, "PAPERBANANA_BASE_URL": server.base_url, "PAPERBANANA_API_KEY": "sk-fastpath-test"}
        done = run(["sync"], root, paid, fast=False)
    assert done[0] == 0, done


def _age() -> None:
    """Wait out the racy window, so that the papers just written may be snapshotted."""
    time.sleep(fastpath.RACY_NS / 1e9 + 0.2)


def _build_states(base: Path, env: dict[str, str]) -> dict[str, Path]:
    fresh = base / "fresh"
    _write_paper(fresh)
    _generate(fresh, env)
    rows = json.loads(run(["status", "--json"], fresh, env, fast=False)[1])
    assert {row["state"] for row in rows} == {"fresh"}
    papers = {"fresh": fresh}

    def variant(name: str) -> Path:
        papers[name] = shutil.copytree(fresh, base / name, ignore=shutil.ignore_patterns(".figbuild"))
        return papers[name]

    root = variant("stale")
    (root / "sections" / "method.tex").write_text("\\section{Method}\nWe encode twice.\n")
    root = variant("missing")
    (root / "figures" / "a.png").unlink()
    root = variant("modified")
    (root / "figures" / "a.png").write_bytes((root / "figures" / "b.png").read_bytes())
    root = variant("frozen")
    frozen = json.loads(json.dumps(MANIFEST))
    frozen["figures"]["b"]["frozen"] = True
    (root / "figures.yaml").write_text(yaml.safe_dump(frozen, sort_keys=False), encoding="utf-8")
    (root / "sections" / "app-1.tex").write_text("\\section{Appendix}\nChanged.\n")
    root = variant("pending")
    digest = json.loads(run(["status", "--json"], root, env, fast=False)[1])[0]["fingerprint"]
    pending = Pending("task-42", digest, {}, "figures/a.png", 10, "2026-01-02T03:04:05Z")
    write(root / "figures.lock", read(root / "figures.lock").with_pending("a", pending))
    root = variant("orphaned")
    orphaned = json.loads(json.dumps(MANIFEST))
    del orphaned["figures"]["b"]
    (root / "figures.yaml").write_text(yaml.safe_dump(orphaned, sort_keys=False), encoding="utf-8")
    root = base / "placeholder"
    _write_paper(root)
    assert run(["sync", "--placeholder"], root, env, fast=False)[0] == 0
    papers["placeholder"] = root
    root = variant("git-ignored")
    (root / ".gitignore").write_text("figures/b.png\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "figures.yaml"], check=True)
    return papers


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, str]]:
    base = tmp_path_factory.mktemp("states")
    env = _env(base / "home")
    papers = _build_states(base, env)
    _age()
    return papers, env


STATUS = [
    ["status"],
    ["status", "--json"],
    ["status", "--check"],
    ["-q", "status", "--check"],
    ["-v", "status"],
    ["status", "--check", "a"],
]
#: Syncs that change nothing on disk in any of the states (no key: real work fails first).
SYNC = [["sync"], ["sync", "--dry-run"], ["sync", "--json", "-q"], ["sync", "--dry-run", "--json"]]
#: What the build hooks run (.latexmkrc, Makefile): it draws placeholders for missing figures.
BEST_EFFORT = [
    ["sync", "--best-effort"],
    ["-q", "sync", "--best-effort", "--json"],
    ["sync", "--best-effort", "--deps"],
]
NO_OP_SYNC = {"fresh", "frozen", "git-ignored", "orphaned"}


@pytest.mark.parametrize(
    "state",
    ["fresh", "stale", "missing", "pending", "modified", "frozen", "placeholder", "orphaned", "git-ignored"],
)
def test_the_fast_path_answers_as_the_full_cli(
    states: tuple[dict[str, Path], dict[str, str]], state: str
) -> None:
    papers, env = states
    root = papers[state]
    for args in STATUS:
        replayed, outcome = compare(args, root, env)
        assert replayed, (args, outcome)  # a status is always replayable
    assert compare(["-C", root.name, "status"], root.parent, env)[0]
    assert compare(["status", "--json", "-q", "--check", "-C", str(root)], root / "sections", env)[0]
    for args in SYNC:
        replayed, outcome = compare(args, root, env)
        assert replayed == (state in NO_OP_SYNC), (args, outcome)
    if state in ("fresh", "frozen", "placeholder"):
        replayed, _ = compare(["sync", "--placeholder"], root, env)
        assert replayed
    if state != "missing":  # (which it would change: a placeholder is drawn)
        # Without a key, every warning follows from the files and the environment:
        # the run is a no-op and its warnings are replayed like any other output.
        # (A hand-modified figure's "skipped" line shows the time: never replayed.)
        for args in BEST_EFFORT:
            replayed, outcome = compare(args, root, env)
            assert replayed == (state != "modified"), (args, outcome)
    replayed, outcome = compare(["deps"], root, env)
    assert replayed, outcome
    assert outcome[1].splitlines()[:2] == [b"figures.yaml", b"figures.lock"]
    if state == "git-ignored":
        assert b"figures/b.png is ignored by git" in compare(["status"], root, env)[1][2]
    shown = {row["state"] for row in json.loads(compare(["status", "--json"], root, env)[1][1])}
    assert state in shown or state in ("placeholder", "git-ignored"), shown  # the state is covered


def test_found_from_a_subdirectory_and_after_the_command(
    states: tuple[dict[str, Path], dict[str, str]],
) -> None:
    papers, env = states
    root = papers["stale"]
    assert compare(["status", "--check"], root / "sections", env)[0]
    assert compare(["status", "-C", ".", "-q"], root, env)[0]
    assert compare(["status", "-vv", "--json", "a"], root, env)[0]


def test_what_it_does_not_know_goes_to_the_full_cli(
    states: tuple[dict[str, Path], dict[str, str]],
) -> None:
    papers, env = states
    root = papers["fresh"]
    for args in (
        ["status", "--help"],
        ["status", "nope"],
        ["status", "--", "a"],
        ["status", "--bogus"],
        ["sync", "--jobs", "0"],
        ["sync", "--force", "--dry-run"],
        ["--version"],
        ["validate"],
        ["-C", "/nonexistent", "status"],
    ):
        replayed, outcome = compare(args, root, env)
        assert not replayed, (args, outcome)


def test_the_environment_is_part_of_the_question(
    states: tuple[dict[str, Path], dict[str, str]], tmp_path: Path
) -> None:
    papers, env = states
    root = papers["git-ignored"]
    assert compare(["status"], root, env)[0]
    store = {**env, "FIGBUILD_STORE": str(tmp_path / "store")}
    before = snapshots(env)
    run(["status"], root, store)
    assert snapshots(env) != before  # not answered from the other environment's snapshot
    (tmp_path / "store" / "index").mkdir(parents=True)
    assert run(["status"], root, store) == run(["status"], root, store, fast=False)


def test_a_file_the_content_includes_is_an_input(tmp_path: Path) -> None:
    # Whatever content.py follows (\\input, \\include, ...) must be noted for the fast path
    # (fastpath.note_input); an edit to it must never be answered from the old snapshot.
    env = _env(tmp_path / "home")
    root = tmp_path / "paper"
    (root / "sections").mkdir(parents=True)
    (root / "main.tex").write_text("\\section{Method}\n\\input{sections/body}\n")
    (root / "sections" / "body.tex").write_text("We encode and decode.\n")
    manifest = {"version": 1, "figures": {"a": {"prompt": "A.", "content": "main.tex"}}}
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest))
    _age()
    assert compare(["status", "--json"], root, env)[0]
    (root / "sections" / "body.tex").write_text("We encode, fuse and decode.\n")
    assert run(["status", "--json"], root, env) == run(["status", "--json"], root, env, fast=False)


def test_a_no_key_warning_never_replays_once_a_key_is_set(
    states: tuple[dict[str, Path], dict[str, str]], tmp_path: Path
) -> None:
    papers, env = states
    root = shutil.copytree(papers["stale"], tmp_path / "stale", ignore=shutil.ignore_patterns(".figbuild"))
    _age()
    hook = ["sync", "--best-effort", "--deps"]
    replayed, outcome = compare(hook, root, env)
    assert replayed
    assert b"PAPERBANANA_API_KEY is not set" in outcome[2]
    assert outcome[1].splitlines()[0] == b"figures.yaml"  # only the dependencies on stdout
    keyed = {**env, "PAPERBANANA_API_KEY": "sk-fastpath-test"}
    with_key = run(hook, root, keyed)
    assert with_key == run(hook, root, keyed, fast=False)
    assert b"is not set" not in with_key[2]  # the server (nothing listens) was tried instead
    # `figbuild login` keeps the key in a file (or the keyring, with a marker file). The
    # snapshot is made to say something else: had it been replayed, that would show.
    for name in fastpath.KEY_FILES:
        marker = Path(env["HOME"]) / ".config" / "figbuild" / name
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
        try:
            _tamper(env)
            assert b"REPLAYED" not in run(hook, root, env)[2]
        finally:
            marker.unlink()
        assert b"REPLAYED" in run(hook, root, env)[2]  # without it, the (tampered) snapshot answers


def _tamper(env: dict[str, str]) -> None:
    """Every snapshot made to print REPLAYED instead of what it recorded."""
    for path in (Path(env["HOME"]) / ".cache" / "figbuild" / "fastpath").iterdir():
        version, key, code, _, paths, signatures = marshal.loads(path.read_bytes())
        path.write_bytes(marshal.dumps((version, key, code, ((2, "REPLAYED\n"),), paths, signatures)))


def test_deps_replayed_after_an_edit_only_when_its_answer_stands(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    root = tmp_path / "paper"
    _write_paper(root)
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["figures"]["c"] = {"prompt": "C.", "content": "sections/later.tex"}
    (root / "figures.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    _age()
    replayed, outcome = compare(["deps"], root, env)
    assert replayed
    assert b"sections/later.tex" not in outcome[1]
    (root / "sections" / "later.tex").write_text("\\section{Later}\nNew.\n")  # a named file appears
    (root / "sections" / "app-2.tex").write_text("\\section{Two}\nMore.\n")  # a new glob match
    listed = run(["deps"], root, env)
    assert listed == run(["deps"], root, env, fast=False)
    assert b"sections/later.tex" in listed[1]
    assert b"sections/app-2.tex" in listed[1]


# --- the property: never an answer the full CLI would not give ------------------------------

MUTATIONS = [
    "nothing",
    "unrelated env var",
    "content edit, same size and mtime",
    "manifest edit, same size and mtime",
    "new glob match",
    "deleted output",
    "moved output",
    "swapped outputs",
    "lock edit, same size and mtime",
    "FIGBUILD_STORE",
    "store index made",
    "identical bytes rewritten",
    ".gitignore added",
]
PROPERTY_COMMANDS = [
    ["deps"],
    ["status"],
    ["status", "--json"],
    ["-q", "status", "--check"],
    ["sync"],
    ["sync", "--dry-run", "--json"],
]


def _same_size_edit(path: Path, position: int) -> None:
    """Change one letter, keeping the size and the modification time."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    letters = [i for i, byte in enumerate(data) if chr(byte).isalpha()]
    index = letters[position % len(letters)]
    data[index] = ord("x") if data[index] != ord("x") else ord("y")
    with path.open("r+b") as handle:  # in place: same inode
        handle.write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _mutate(root: Path, env: dict[str, str], mutation: str, position: int) -> dict[str, str]:
    figures = root / "figures"
    if mutation == "unrelated env var":
        return {**env, "FIGBUILD_PROPERTY_UNRELATED": str(position)}
    if mutation == "FIGBUILD_STORE":
        return {**env, "FIGBUILD_STORE": str(root / "elsewhere")}
    if mutation == "content edit, same size and mtime":
        _same_size_edit(root / sorted(FILES)[position % len(FILES)], position)
    elif mutation == "manifest edit, same size and mtime":
        _same_size_edit(root / "figures.yaml", position)
    elif mutation == "lock edit, same size and mtime":
        lock = root / "figures.lock"
        st = lock.stat()
        text = lock.read_text()
        digest = json.loads(text)["figures"]["a"]["generated"]["sha256"]
        lock.write_text(text.replace(digest, digest[::-1]))
        os.utime(lock, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif mutation == "new glob match":
        (root / "sections" / f"app-{position % 7 + 2}.tex").write_text("\\section{More}\nNew.\n")
    elif mutation == "deleted output":
        (figures / "ab"[position % 2]).with_suffix(".png").unlink(missing_ok=True)
    elif mutation == "moved output":
        source = figures / "a.png"
        if source.exists():
            source.rename(figures / "moved.png")
    elif mutation == "swapped outputs":
        if (figures / "a.png").exists() and (figures / "b.png").exists():
            (figures / "a.png").rename(figures / "tmp.png")
            (figures / "b.png").rename(figures / "a.png")
            (figures / "tmp.png").rename(figures / "b.png")
    elif mutation == "store index made":
        (root / ".figbuild" / "store" / "index").mkdir(parents=True, exist_ok=True)
    elif mutation == "identical bytes rewritten":
        path = root / "sections" / "method.tex"
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
    elif mutation == ".gitignore added":
        (root / ".gitignore").write_text("figures/\n")
    return env


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[Iterator[Path], dict[str, str]]:
    """Aged copies of one fresh paper, each used by one example."""
    base = tmp_path_factory.mktemp("pool")
    env = _env(base / "home")
    origin = base / "origin"
    _write_paper(origin)
    _generate(origin, env)
    subprocess.run(["git", "init", "-q", str(origin)], check=True)  # git decides the ignored warning

    def copies() -> Iterator[Path]:
        index = 0
        while True:
            made = [
                shutil.copytree(
                    origin, base / f"copy-{index + i}", ignore=shutil.ignore_patterns(".figbuild")
                )
                for i in range(30)
            ]
            index += len(made)
            _age()
            yield from made

    return copies(), env


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(PROPERTY_COMMANDS),
    mutations=st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3),
    position=st.integers(min_value=0, max_value=10_000),
)
def test_the_fast_path_never_says_what_the_full_cli_would_not(
    pool: tuple[Iterator[Path], dict[str, str]], command: list[str], mutations: list[str], position: int
) -> None:
    copies, env = pool
    root = next(copies)
    before = snapshots(env)
    run(command, root, env, fast=False)
    assert snapshots(env) != before or command[0] == "sync"  # the unchanged paper's snapshot
    for mutation in mutations:
        env = _mutate(root, env, mutation, position)
    written = snapshots(env)
    fast = run(command, root, env)
    if set(mutations) <= {"nothing", "unrelated env var"} and command[0] == "status":
        assert snapshots(env) == written, "nothing that matters changed: the fast path answers"
    assert fast == run(command, root, env, fast=False), (command, mutations)


# --- the parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "same_as"),
    [
        (["status", "-C", "p", "-q"], ["-C", "p", "-q", "status"]),
        (["status", "--check", "--json"], ["status", "--json", "--check", "--json"]),
        (["-vq", "status"], ["status", "-v", "--quiet"]),
        (["sync", "--jobs", "4", "--max-credits=0"], ["sync", "--max-credits", "0", "--jobs=4"]),
    ],
)
def test_arguments_the_cli_reads_alike_are_one_question(argv: list[str], same_as: list[str]) -> None:
    assert fastpath.parse(argv) is not None
    assert fastpath.parse(argv) == fastpath.parse(same_as)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["status", "--help"],
        ["-h"],
        ["--version"],
        ["validate"],
        ["status", "--"],
        ["status", "--json=1"],
        ["sync", "--force"],
        ["sync", "--jobs", "-1"],
        ["sync", "--jobs"],
        ["sync", "--jobs", "²"],
        ["-C"],
        ["-Cpaper", "status"],
        ["--json", "status"],
    ],
)
def test_anything_else_is_not_a_question_for_the_fast_path(argv: list[str]) -> None:
    assert fastpath.parse(argv) is None


def test_the_paper_is_found_as_the_cli_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "paper"
    (root / "a" / "b").mkdir(parents=True)
    (root / "figures.yaml").write_text("version: 1\n")
    monkeypatch.chdir(root / "a" / "b")
    assert Path(fastpath.find_root(None) or "") == find(Path(), search_parents=True).parent
    assert fastpath.find_root(".") is None
    assert fastpath.find_root(str(root)) == str(root)


def test_it_shares_the_cache_directory_and_the_key_redaction() -> None:
    from figbuild.backends.paperbanana.settings import KEY_ENV, key_forms

    assert fastpath.KEY_ENV == KEY_ENV
    assert Path(fastpath.cache_home()) == cache_home()
    for key in ("", "sk-abc", " sk-abcdef123 ", "sk-abc def-ghijkl\tmnopqr", "short"):
        assert fastpath.key_forms({KEY_ENV: key}) == key_forms({KEY_ENV: key})


def test_a_replayed_status_loads_neither_click_nor_the_pipeline(
    states: tuple[dict[str, Path], dict[str, str]], tmp_path: Path
) -> None:
    papers, env = states
    root = papers["fresh"]
    report = tmp_path / "modules.txt"
    probe = (
        "import atexit, os, sys\n"
        "report = sys.argv[1]\n"
        "def write():\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith(('click', 'figbuild')))\n"
        "    open(report, 'w').write(repr(loaded))\n"
        "atexit.register(write)\n"
        "exit = os._exit\n"
        "os._exit = lambda code: (write(), exit(code))  # a replay skips the interpreter's teardown\n"
        "sys.argv = ['figbuild', 'status']\n"
        "from figbuild.__main__ import main\n"
        "main()\n"
    )
    command = [sys.executable, "-c", probe, str(report)]
    # Run by this interpreter (part of the snapshot's key): the full CLI, then the fast path.
    subprocess.run(command, cwd=root, env={**env, fastpath.DISABLE_ENV: "1"}, check=True, capture_output=True)
    full = report.read_text()
    assert "'figbuild.paper'" in full
    assert "click" not in full  # figbuild.lean runs a status without it
    report.unlink()
    subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    assert report.read_text() == "['figbuild', 'figbuild.__main__', 'figbuild.fastpath']"


def test_the_installed_script_answers_a_no_op_without_importing_re(
    states: tuple[dict[str, Path], dict[str, str]],
) -> None:
    """pip's generated entry-point wrapper imports ``re`` before figbuild runs (more
    than a replayed status costs): the script figbuild installs is its own file."""
    papers, env = states
    script = Path(fastpath.__file__).with_name("script.py")
    assert script.read_text().startswith("#!python\n")  # the installer points it at the venv
    command = [sys.executable, "-X", "importtime", str(script), "status"]
    subprocess.run(command, cwd=papers["fresh"], env=env, check=True, capture_output=True)
    replayed = subprocess.run(
        command, cwd=papers["fresh"], env=env, check=True, capture_output=True, text=True
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in replayed.stderr.splitlines() if "|" in line}
    assert "figbuild.fastpath" in imported
    assert not imported & {"re", "enum", "click", "figbuild.lean", "zlib"}, sorted(imported)
    assert "fresh" in replayed.stdout


def test_inputs_changed_within_the_racy_window_are_never_snapshotted(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path / "home")
    root = tmp_path / "paper"
    _write_paper(root)
    assert run(["sync", "--placeholder"], root, env, fast=False)[0] == 0
    before = snapshots(env)
    run(["status"], root, env, fast=False)
    assert snapshots(env) == before  # everything was written just now


@pytest.mark.parametrize("configured", ["relative/config", "   "])
def test_a_key_is_looked_for_where_login_keeps_it_whatever_xdg_config_home_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    """An XDG_CONFIG_HOME that is not an absolute path is ignored by `figbuild login`
    (the key goes to ~/.config/figbuild): the fast path's "is a key configured" must look
    there too, or a cached "no key" warning would replay after a login."""
    from figbuild.backends.paperbanana import credentials

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", configured)
    monkeypatch.delenv("PAPERBANANA_API_KEY", raising=False)
    stored = credentials.config_dir() / "credentials"
    stored.parent.mkdir(parents=True)
    stored.write_text("sk-test\n")
    assert stored.is_relative_to(tmp_path / "home")
    assert fastpath.key_configured()
