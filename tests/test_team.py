"""A team's store, end to end: two machines, one remote, the emulator as the API.

Each "machine" is a clone of one paper with its own local store (FIGBUILD_STORE),
its own cache (XDG_CACHE_HOME) and its own name (FIGBUILD_MACHINE), running the
installed figbuild as a subprocess. The remote is either moto's standalone S3
server on loopback (a real HTTP server speaking S3, not a patched client) or a
folder (``file://``); every scenario runs against both.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from figbuild.emulator import Emulator, EmulatorConfig

from .test_engine import posts

pytestmark = pytest.mark.slow

#: Distinctive credentials: the test greps every output and file for them.
ACCESS_KEY = "AKIAFIGBUILDTESTKEY7"
SECRET_KEY = "s3cr3t-figbuild-never-shown-0123456789"
BUCKET = "lab-figures"


@dataclass
class Server:
    endpoint: str
    client: Any


@pytest.fixture(scope="module")
def s3_server() -> Iterator[Server]:
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    try:
        yield Server(endpoint, client)
    finally:
        server.stop()


@dataclass
class Remote:
    """Where the team's store is, and a way to look at it from outside figbuild."""

    url: str
    kind: str
    env: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    server: Server | None = None
    prefix: str = ""

    def keys(self, under: str = "") -> list[str]:
        if self.folder is not None:
            base = self.folder
            return sorted(
                p.relative_to(base).as_posix()
                for p in base.rglob("*")
                if p.is_file() and p.relative_to(base).as_posix().startswith(under)
            )
        assert self.server is not None
        pages = self.server.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=self.prefix + under
        )
        return sorted(item["Key"][len(self.prefix) :] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        if self.folder is not None:
            return (self.folder / key).read_bytes()
        assert self.server is not None
        body: bytes = self.server.client.get_object(Bucket=BUCKET, Key=self.prefix + key)["Body"].read()
        return body

    def write(self, key: str, data: bytes) -> None:
        if self.folder is not None:
            (self.folder / key).write_bytes(data)
            return
        assert self.server is not None
        self.server.client.put_object(Bucket=BUCKET, Key=self.prefix + key, Body=data)


@pytest.fixture(params=["s3", "file"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    if request.param == "file":
        folder = tmp_path / "shared"
        folder.mkdir()
        return Remote(f"file://{folder}", "file", folder=folder)
    server: Server = request.getfixturevalue("s3_server")
    prefix = f"t{time.time_ns()}/"
    with contextlib.suppress(server.client.exceptions.BucketAlreadyOwnedByYou):
        server.client.create_bucket(Bucket=BUCKET)
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.endpoint,
    }
    return Remote(f"s3://{BUCKET}/{prefix.rstrip('/')}", "s3", env=env, server=server, prefix=prefix)


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Machine:
    name: str
    root: Path
    home: Path
    remote: Remote
    server: Emulator
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "FIGBUILD_STORE": str(self.home / "store"),
            "FIGBUILD_MACHINE": self.name,
            "FIGBUILD_REMOTE": self.remote.url,
            "PAPERBANANA_BASE_URL": self.server.base_url,
            "PAPERBANANA_API_KEY": "sk-test-key",
            **self.remote.env,
            **self.extra,
        }

    def start(self, *args: str) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "figbuild", "-C", str(self.root), *args]
        return subprocess.Popen(
            argv, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def figbuild(self, *args: str) -> Run:
        process = self.start(*args)
        out, err = process.communicate(timeout=180)
        assert "Traceback" not in err, err
        return Run(process.returncode, out, err)


def _manifest(**figures: dict[str, Any]) -> str:
    return yaml.safe_dump({"version": 1, "figures": figures}, sort_keys=False)


@pytest.fixture
def make_machines(tmp_path: Path, remote: Remote) -> Iterator[Any]:
    servers: list[Emulator] = []

    def make(manifest: str, latency: float = 0.2, **extra: str) -> tuple[Machine, Machine, Emulator]:
        server = Emulator(EmulatorConfig(latency=latency, image_scale=0.1, rpm=600)).start()
        servers.append(server)
        machines = []
        for name in ("laptop-a", "ci-b"):
            root = tmp_path / name / "paper"
            root.mkdir(parents=True)
            (root / "figures.yaml").write_text(manifest)
            (tmp_path / name / "home").mkdir()
            machines.append(Machine(name, root, tmp_path / name / "home", remote, server, dict(extra)))
        return machines[0], machines[1], server

    yield make
    for server in servers:
        server.stop()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_b_gets_what_a_made_for_no_request(make_machines: Any) -> None:
    a, b, server = make_machines(_manifest(fig={"prompt": "A cat"}, other={"prompt": "A dog"}))
    assert a.figbuild("sync").code == 0
    paid = posts(server)
    assert paid == 2
    done = b.figbuild("sync")
    assert done.code == 0, done.err
    assert posts(server) == paid, "B paid for what A made"
    assert "from the team store" in done.err
    for name in ("fig", "other"):
        assert _sha(b.root / f"figures/{name}.png") == _sha(a.root / f"figures/{name}.png")
    log = b.figbuild("log")
    assert "made on laptop-a" in log.out
    assert b.figbuild("gallery").code == 0
    assert "made on laptop-a" in (b.root / ".figbuild/gallery/index.html").read_text()


def test_candidates_made_on_a_are_pickable_on_b_for_no_request(make_machines: Any) -> None:
    a, b, server = make_machines(_manifest(fig={"prompt": "A cat", "candidates": 3}))
    assert a.figbuild("sync").code == 0
    assert posts(server) == 3
    assert a.figbuild("pick", "fig", "3").code == 0
    third = _sha(a.root / "figures/fig.png")
    assert b.figbuild("sync").code == 0
    picked = b.figbuild("pick", "fig", "3")
    assert picked.code == 0, picked.err
    assert posts(server) == 3
    assert _sha(b.root / "figures/fig.png") == third


def test_a_race_on_one_request_pays_once_and_one_machine_waits(make_machines: Any) -> None:
    a, b, server = make_machines(_manifest(fig={"prompt": "A cat"}), latency=2.0)
    first, second = a.start("sync"), b.start("sync")
    results = [process.communicate(timeout=180) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert posts(server) == 1
    assert server.credits_charged == 10
    waited = [err for _, err in results if "waiting for it instead of paying" in err]
    assert len(waited) == 1, results
    assert _sha(a.root / "figures/fig.png") == _sha(b.root / "figures/fig.png")


def test_b_collects_the_task_of_a_killed_after_submitting(make_machines: Any) -> None:
    a, b, server = make_machines(_manifest(fig={"prompt": "A cat"}), latency=4.0, FIGBUILD_CLAIM_EXPIRY="1")
    run = a.start("sync")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until A's claim names its task
        claims = a.remote.keys("claims/")
        if claims and b"task_id" in a.remote.read(claims[-1]):
            break
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert posts(server) == 1
    done = b.figbuild("sync")
    assert done.code == 0, done.err
    assert "expired; collecting what it paid for" in done.err
    assert posts(server) == 1, "B paid again for A's task"
    assert (b.root / "figures/fig.png").is_file()
    again = a.figbuild("sync")  # A collects its own pending task: free as well
    assert again.code == 0, again.err
    assert posts(server) == 1


def test_an_unreachable_remote_is_one_warning_then_the_next_run_pushes(
    make_machines: Any, tmp_path: Path
) -> None:
    a, b, server = make_machines(_manifest(fig={"prompt": "A cat"}, other={"prompt": "A dog"}))
    reachable = a.remote
    if reachable.kind == "s3":
        a.extra["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
    else:
        a.extra["FIGBUILD_REMOTE"] = f"file://{tmp_path / 'not-mounted'}"
    offline = a.figbuild("sync")
    assert offline.code == 0, offline.err
    warnings = [line for line in offline.err.splitlines() if "unreachable" in line]
    assert len(warnings) == 1, offline.err
    assert reachable.keys("objects/") == []
    a.extra.clear()
    back = a.figbuild("sync")  # nothing to do here, but the queue is pushed
    assert back.code == 0, back.err
    assert "unreachable" not in back.err
    assert len(reachable.keys("objects/")) == 2
    assert not (a.root / ".figbuild/team-unpushed").exists()
    assert b.figbuild("sync").code == 0
    assert posts(server) == 2


def test_a_corrupted_object_is_refused(make_machines: Any) -> None:
    a, b, server = make_machines(_manifest(fig={"prompt": "A cat"}))
    assert a.figbuild("sync").code == 0
    [key] = a.remote.keys("objects/")
    a.remote.write(key, b"\x89PNG not the image it claims to be")
    done = b.figbuild("sync")
    assert done.code == 0, done.err
    assert "does not match its hash; refused" in done.err
    assert posts(server) == 2, "B paid, rather than take bytes that do not match their hash"
    assert (
        _sha(b.root / "figures/fig.png")
        != hashlib.sha256(b"\x89PNG not the image it claims to be").hexdigest()
    )


def test_hostile_entries_name_nothing(make_machines: Any) -> None:
    # A co-author with write access can compute an entry's check: the entry is still data.
    import json
    from dataclasses import replace

    from figbuild.store.index import decode, encode

    a, b, server = make_machines(_manifest(fig={"prompt": "A cat"}))
    assert a.figbuild("sync").code == 0
    [key] = a.remote.keys("index/")
    document = json.loads(a.remote.read(key))
    entry = decode(document["line"].encode())
    for evil in (
        replace(entry, figure="../../../../tmp/evil-figure"),
        replace(entry, suffix="/../../evil"),
        replace(entry, fingerprint="sha256:" + "0" * 64),  # not the fingerprint its key names
    ):
        line = encode(evil).decode().rstrip("\n")
        a.remote.write(key, json.dumps({**document, "line": line}).encode())
        done = b.figbuild("sync", "--dry-run")
        assert done.code == 0, done.err
        assert "from the team store" not in done.out + done.err, evil
    a.remote.write(key, json.dumps({**document, "machine": "../evil\u001b[2J"}).encode())
    assert "from the team store" not in b.figbuild("sync", "--dry-run").out
    assert posts(server) == 1
    assert not Path("/tmp/evil-figure").exists()


def test_credentials_never_appear_in_output_or_files(make_machines: Any, tmp_path: Path) -> None:
    a, b, _ = make_machines(_manifest(fig={"prompt": "A cat"}))
    runs = [a.figbuild("-v", "sync"), b.figbuild("-v", "sync"), b.figbuild("store", "status")]
    runs.append(b.figbuild("store", "push"))
    a.extra["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    a.extra["FIGBUILD_REMOTE"] = a.remote.url if a.remote.kind == "s3" else "file:///nonexistent"
    runs.append(a.figbuild("-v", "sync", "--force"))
    for run in runs:
        assert SECRET_KEY not in run.out + run.err
        assert ACCESS_KEY not in run.out + run.err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET_KEY.encode() not in data, path
            assert ACCESS_KEY.encode() not in data, path


def test_store_status_push_pull_show_and_move_what_differs(make_machines: Any) -> None:
    a, b, _ = make_machines(_manifest(fig={"prompt": "A cat"}))
    a.extra["FIGBUILD_REMOTE"] = "off"  # A works alone first
    assert a.figbuild("sync").code == 0
    a.extra.clear()
    status = a.figbuild("store", "status")
    assert "to push: 1 image(s)" in status.out
    assert a.figbuild("store", "push").code == 0
    assert "to push: 0 image(s)" in a.figbuild("store", "status").out
    assert "to pull: 1 image(s)" in b.figbuild("store", "status").out
    pulled = b.figbuild("store", "pull")
    assert pulled.code == 0
    assert "pulled 1 image(s)" in pulled.err
    assert "made on laptop-a" in b.figbuild("log", "fig").out


def test_status_and_a_no_op_sync_load_no_s3_client(make_machines: Any) -> None:
    a, _, _ = make_machines(_manifest(fig={"prompt": "A cat"}))
    assert a.figbuild("sync").code == 0
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in ('boto3', 'botocore', 'moto') if m in sys.modules),"
        " file=sys.stderr))\n"
        "from figbuild.__main__ import main\n"
        "sys.argv = ['figbuild', '-C', sys.argv[1], sys.argv[2]]\n"
        "main()\n"
    )
    for command in ("status", "sync"):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(a.root), command],
            env=a.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1] == "[]", (command, done.stderr)


def test_two_uids_share_a_folder_remote_through_a_group(tmp_path: Path, make_emulator: Any) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as two users of one group")
    group, users = 64_990, (64_991, 64_992)
    probe = ["setpriv", f"--reuid={users[0]}", f"--regid={users[0]}", "--clear-groups"]
    tried = subprocess.run(
        [*probe, sys.executable, "-c", "import figbuild.cli, figbuild.engine, PIL.Image"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    if tried.returncode != 0:
        pytest.skip(
            f"a non-root user cannot run {sys.executable} with figbuild: {tried.stderr.strip()[-200:]}"
        )
    base = Path(tempfile_dir())
    try:
        shared = base / "shared"
        shared.mkdir()
        os.chown(shared, 0, group)
        shared.chmod(0o2775)
        server = make_emulator(latency=0.2, rpm=600)
        remote = Remote(f"file://{shared}", "file", folder=shared)
        runs = []
        for name, uid in zip(("laptop-a", "ci-b"), users, strict=True):
            root = base / name / "paper"
            root.mkdir(parents=True)
            # B also has a figure of its own: it adds to folders A made.
            figures = {"fig": {"prompt": "A cat"}, **({"own": {"prompt": "B's"}} if uid == users[1] else {})}
            (root / "figures.yaml").write_text(_manifest(**figures))
            (base / name / "home").mkdir()
            for path in [base / name, *(base / name).rglob("*")]:
                os.chown(path, uid, uid)
            machine = Machine(name, root, base / name / "home", remote, server)
            prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", f"--groups={group}", "--inh-caps=-all"]
            argv = [*prefix, sys.executable, "-m", "figbuild", "-C", str(root), "sync"]
            done = subprocess.run(
                argv, env=machine.env(), capture_output=True, text=True, timeout=180, check=False, cwd="/"
            )
            runs.append(done)
            assert done.returncode == 0, done.stderr
            assert "unreachable" not in done.stderr, done.stderr
        assert posts(server) == 2, "the second user paid for what the first made"
        assert "from the team store" in runs[1].stderr
        owners = {path.stat().st_uid for path in shared.rglob("*") if path.is_file()}
        assert owners == set(users), "both users wrote to the shared folder"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def tempfile_dir() -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="figbuild-team-")
    os.chmod(path, 0o755)
    return path
