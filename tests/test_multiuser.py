"""Another user on the same machine: the served gallery, a shared store, the cache folders.

The test process is the researcher; a subprocess demoted to another uid (with
``setpriv``, as :mod:`tests.test_permissions` does) is the other user. Skipped
where no other uid can run this interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from figbuild import engine
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.gallery.serve import Builder, GalleryServer
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.store import How, Meta, Store
from figbuild.store import disk as store_disk

from .test_gallery_access import SECRET_PROMPT, SECRET_TEXT, RecordingActions
from .test_permissions import PREFIX

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PREFIX, reason="needs root and setpriv or runuser: another uid to act as"),
]


@pytest.fixture(scope="module")
def other_user() -> None:
    probe = [*(PREFIX or []), sys.executable, "-c", "import figbuild"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False, cwd="/")
    if done.returncode != 0:
        pytest.skip(f"another uid cannot run {sys.executable}: {done.stderr.strip()[-200:]}")


def as_other(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as the other user."""
    argv = [*(PREFIX or []), sys.executable, "-c", code, *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd="/", env=env)


@pytest.fixture
def shared_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="figbuild-multi-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


_PROBE = """
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
seen = []
def ask(path, data=None, headers={}):
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
for path in ("", "index.html", "version", "?token=guess", "sent/a.1.txt", "images/", "thumbs/"):
    seen.append((path,) + ask(path))
origin = {"Origin": base.rstrip("/"), "Content-Type": "application/json"}
for action in ("sync", "accept", "pick", "restore"):
    body = json.dumps({"figure": "a", "k": 1, "version": 1}).encode()
    seen.append((action,) + ask("action/" + action, body, origin))
print(json.dumps(seen))
"""


def test_another_user_who_finds_the_port_gets_nothing(other_user: None, shared_base: Path) -> None:
    root = shared_base / "paper"
    root.mkdir()
    (root / "figures.yaml").write_text(
        f"version: 1\nfigures:\n  a:\n    prompt: {SECRET_PROMPT}\n    content: paper.tex\n"
    )
    (root / "paper.tex").write_text(f"{SECRET_TEXT}\n")
    engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter())
    actions = RecordingActions()
    with GalleryServer(Builder(root, root / ".figbuild" / "gallery"), actions) as server:
        done = as_other(_PROBE, server.url)
        assert done.returncode == 0, done.stderr
        for path, status, body in json.loads(done.stdout):
            assert status in (403, 404), (path, status, body)
            assert SECRET_PROMPT not in body, path
            assert SECRET_TEXT not in body, path
    assert actions.calls == [], "the other user pressed a button"


_PLANT = """
import os, sys
from pathlib import Path
index = Path(sys.argv[1]) / "index"
index.mkdir(parents=True, exist_ok=True)
os.symlink(sys.argv[2], index / "seg-zzzz-planted.jsonl")
"""
_READ_ASIDE = """
import sys
from pathlib import Path
found = []
for path in (Path(sys.argv[1]) / "damaged").glob("*"):
    try:
        found.append(path.read_text())
    except OSError:
        pass
print("secret" in "".join(found))
"""


def test_a_co_author_of_a_shared_store_cannot_make_the_victim_copy_a_private_file(
    other_user: None, shared_base: Path
) -> None:
    store_path = shared_base / "shared-store"
    store_path.mkdir()
    store_path.chmod(0o777)  # a team folder both may write
    private = shared_base / "private.txt"
    private.write_text("the researcher's secret\n")
    private.chmod(0o600)
    victim = Store(store_path, paper="victim")
    victim.put(b"\x89PNG\r\n\x1a\nfirst", Meta("sha256:f", "a", How.GENERATED))
    for folder in (store_path / "index", store_path / "objects"):
        folder.chmod(0o777)
    done = as_other(_PLANT, str(store_path), str(private))
    assert done.returncode == 0, done.stderr
    for n in range(store_disk.COMPACT_AFTER + 1):  # the victim's next puts compact the index
        victim.put(b"\x89PNG\r\n\x1a\n" + str(n).encode(), Meta("sha256:f", "a", How.GENERATED))
    seen = as_other(_READ_ASIDE, str(store_path))
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == "False", "the private file reached damaged/ where the co-author reads it"
    assert private.read_text() == "the researcher's secret\n"


_PRECREATE = """
import os, sys
folder = os.path.join(sys.argv[1], "figbuild", "fastpath")
os.makedirs(folder)
for path in (sys.argv[1], os.path.join(sys.argv[1], "figbuild"), folder):
    os.chmod(path, 0o777)
"""


def test_a_cache_folder_another_user_made_is_never_used(other_user: None, shared_base: Path) -> None:
    script = shutil.which("figbuild") or str(Path(sys.executable).with_name("figbuild"))
    if not os.access(script, os.X_OK):
        pytest.skip("the figbuild console script is not installed")
    caches = shared_base / "caches"  # XDG_CACHE_HOME pointing at a shared place
    shared_base.chmod(0o777)
    done = as_other(_PRECREATE, str(caches))
    assert done.returncode == 0, done.stderr
    root = shared_base / "paper"
    root.mkdir()
    (root / "figures.yaml").write_text("version: 1\nfigures:\n  a:\n    prompt: x\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(shared_base),
        "XDG_CACHE_HOME": str(caches),
        "PAPERBANANA_BASE_URL": "http://127.0.0.1:9/api/v1",
    }
    subprocess.run(
        [script, "sync", "--placeholder"], cwd=root, env=env, capture_output=True, timeout=120, check=True
    )
    old = time.time() - 60
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    time.sleep(2.1)
    for _ in range(2):
        subprocess.run([script, "status"], cwd=root, env=env, capture_output=True, timeout=120, check=True)
    written = [p for p in (caches / "figbuild").rglob("*") if p.is_file()]
    assert written == [], f"figbuild wrote its cache into another user's folder: {written}"


@pytest.mark.parametrize("command", [["log"], ["sync", "--placeholder"], ["gallery"], ["status"]])
def test_a_shared_store_this_user_cannot_read_is_a_clear_error(
    other_user: None, shared_base: Path, command: list[str]
) -> None:
    store_path = shared_base / "store"
    Store(store_path, paper="owner").put(b"\x89PNG\r\n\x1a\nx", Meta("sha256:f", "a", How.GENERATED))
    (store_path / "index").chmod(0o700)  # the owner's alone
    root = shared_base / "paper"
    root.mkdir()
    (root / "figures.yaml").write_text("version: 1\nfigures:\n  a:\n    prompt: x\n")
    for path in [shared_base / "paper", *root.rglob("*")]:
        os.chown(path, 64_999, 64_999)
    argv = [*(PREFIX or []), sys.executable, "-m", "figbuild", "-C", str(root), *command]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "FIGBUILD_STORE": str(store_path),
        "PAPERBANANA_BASE_URL": "http://127.0.0.1:9/api/v1",
    }
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd="/", env=env)
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode != 0:
        assert str(store_path) in done.stderr, done.stderr
