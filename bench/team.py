"""Benchmark: a team's store on S3 (moto's standalone server on loopback) for a 200-figure paper.

Machine A syncs the paper against the emulator with the remote configured (every
image pushed); machine B, a clone with an empty local store, then syncs and
restores all of it from the remote. Reported:

- ``lookup``: B's lookup of every figure in one listing (requests, ms), in process;
- ``b_sync``: B's whole `figbuild sync` (requests to the remote by kind, API
  requests, seconds): 1 listing, then one entry and one object read per figure;
- ``push``: the cost per image of a push (requests, ms), in process; and A's
  sync against the same sync of a third clone without the remote;
- ``status_noop``: a no-op `figbuild status` on B with and without the remote
  configured (medians, s): the remote must cost it nothing.

    python bench/team.py [--figures 200] [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import figbuild, interleaved_medians, make_paper, settle, user_env

from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.store import Entry, How
from figbuild.store.remote import open_remote

BUCKET = "bench-figures"


class _Count(logging.Handler):
    """Counts the S3 requests moto's server logs (one werkzeug line per request)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def kinds(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for line in self.lines:
            if '"GET ' in line and "list-type=2" in line:
                kind = "list"
            elif '"GET ' in line:
                kind = "get"
            elif '"PUT ' in line:
                kind = "put"
            else:
                continue
            found[kind] = found.get(kind, 0) + 1
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = {
        "AWS_ACCESS_KEY_ID": "AKIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    os.environ.update(aws)
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    counter = _Count()
    logging.getLogger("werkzeug").addHandler(counter)
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    try:
        print(json.dumps(run(args.figures, args.runs, aws, counter), indent=2))
    finally:
        server.stop()


def run(figures: int, runs: int, aws: dict[str, str], counter: _Count) -> dict[str, Any]:
    url = f"s3://{BUCKET}/paper"
    result: dict[str, Any] = {"figures": figures}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(EmulatorConfig(latency=0.0, image_scale=0.1, rpm=100_000)) as api,
    ):
        base = Path(tmp)
        a = make_paper(base / "a" / "paper", figures, resolution="1K")
        b = base / "b" / "paper"
        shutil.copytree(a, b)

        def env(machine: str, **extra: str) -> dict[str, str]:
            settings = {
                **aws,
                "FIGBUILD_REMOTE": url,
                "FIGBUILD_MACHINE": machine,
                "FIGBUILD_STORE": str(base / machine / "store"),
                "XDG_CACHE_HOME": str(base / machine / "cache"),
                "PAPERBANANA_BASE_URL": api.base_url,
                "PAPERBANANA_API_KEY": "sk-bench",
            }
            return user_env(**{**settings, **extra})

        started = time.perf_counter()
        subprocess.run(figbuild("-q", "sync"), cwd=a, env=env("a"), check=True)
        result["a_sync_s"] = round(time.perf_counter() - started, 2)
        result["a_remote_requests"] = counter.kinds()
        api_before = len(api.records())

        remote = open_remote(url)
        started = time.perf_counter()
        listing = remote.list_entries()
        result["lookup"] = {
            "requests": dict(remote.requests),
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "fingerprints_found": len(listing.keys),
        }

        counter.lines.clear()
        started = time.perf_counter()
        subprocess.run(figbuild("-q", "sync"), cwd=b, env=env("b"), check=True)
        result["b_sync"] = {
            "s": round(time.perf_counter() - started, 2),
            "remote_requests": counter.kinds(),
            "api_requests": len(api.records()) - api_before,
        }

        result["push"] = push_cost(remote, 50)

        # The same sync on a third clone without the remote: what the remote adds to A's.
        c = base / "c" / "paper"
        shutil.copytree(b, c, ignore=shutil.ignore_patterns("figures", "figures.lock", ".figbuild"))
        started = time.perf_counter()
        subprocess.run(figbuild("-q", "sync"), cwd=c, env=env("c", FIGBUILD_REMOTE="off"), check=True)
        result["a_sync_without_remote_s"] = round(time.perf_counter() - started, 2)

        settle()
        configured = env("b")
        alone = {k: v for k, v in configured.items() if k != "FIGBUILD_REMOTE"}
        # Interleaved, so that load on a shared machine hits both alike.
        result["status_noop_s"] = interleaved_medians(
            {
                "with_remote": ["env", f"FIGBUILD_REMOTE={url}", *figbuild("status")],
                "without_remote": ["env", *figbuild("status")],
            },
            runs * 3,
            cwd=b,
            env=alone,
        )
    return result


def push_cost(remote: Any, images: int) -> dict[str, Any]:
    """Requests and ms per image pushed: its object (write-once) and its entry."""
    before = dict(remote.requests)
    started = time.perf_counter()
    for n in range(images):
        data = b"\x89PNG\r\n\x1a\n" + f"pushed image {n} ".encode() * 2000  # ~36 kB
        sha = hashlib.sha256(data).hexdigest()
        entry = Entry(
            id=f"{n:016x}",
            fingerprint="sha256:" + hashlib.sha256(str(n).encode()).hexdigest(),
            figure=f"fig-{n}",
            paper="bench",
            sha256=sha,
            suffix=".png",
            size=len(data),
            how=How.GENERATED,
            when="2026-12-03T10:00:00Z",
            task_id=f"task-{n}",
            credits=10,
        )
        remote.put_object(sha, data)
        remote.append(entry, "bench")
    elapsed = time.perf_counter() - started
    made = {k: v - before.get(k, 0) for k, v in remote.requests.items() if v - before.get(k, 0)}
    return {
        "requests_per_image": {k: v / images for k, v in made.items()},
        "ms_per_image": round(elapsed * 1000 / images, 2),
    }


if __name__ == "__main__":
    main()
