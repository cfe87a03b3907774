"""A real `figbuild sync` killed with SIGKILL at random moments, again and again.

Before each run two figures' prompts change, so every run has something to pay
for; then one clean sync. Whatever the kills interrupted (a POST, a lock write, a
download, a rename), the invariants are those of SPEC: no request was paid for
twice and every charged task is one the emulator's ledger shows (credits ==
tasks x price), the lock is valid and has nothing pending, each figure's current
prompt was generated and its file is a complete image whose sha256 the lock
records, and no temp file is left beside the outputs or the lock.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from figbuild.digests import sha256_file
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import read

from .conftest import PaperFactory
from .test_engine import posts

FIGURES = 6
KILLS = int(os.environ.get("FIGBUILD_KILLS", "8"))
#: Another seed (FIGBUILD_KILL_SEED) kills at other moments, for a longer hunt.
SEED = int(os.environ.get("FIGBUILD_KILL_SEED", "20261126"))

pytestmark = pytest.mark.slow


def _figbuild(server: Emulator, root: Path, home: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PAPERBANANA_BASE_URL": server.base_url,
        "PAPERBANANA_API_KEY": "sk-test-key",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "figbuild", "-q", "-C", str(root), "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _paid_prompts(server: Emulator) -> list[str]:
    """The prompt of every task the emulator created (and charged for)."""
    import requests

    answer = requests.get(
        f"{server.base_url}/tasks",
        params={"limit": 100},
        headers={"Authorization": "Bearer sk-test-key"},
        timeout=10,
    )
    return [task["prompt"] for task in answer.json()["data"]["tasks"]]


def _manifest(versions: list[int]) -> dict[str, object]:
    figures = {f"f{i}": {"prompt": f"Figure {i}, version {v}"} for i, v in enumerate(versions)}
    return {"version": 1, "figures": figures}


def test_random_sigkills_then_a_clean_sync_pay_once_and_leave_no_debris(
    make_paper: PaperFactory, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    versions = [0] * FIGURES
    root = make_paper(_manifest(versions))
    with Emulator(EmulatorConfig(latency=0.4, image_scale=0.1, rpm=600)) as server:
        for _ in range(KILLS):
            # Each round has work: some figures' prompts change, so they need paying for.
            for i in rng.sample(range(FIGURES), 2):
                versions[i] += 1
            (root / "figures.yaml").write_text(yaml.safe_dump(_manifest(versions)))
            run = _figbuild(server, root, tmp_path)
            time.sleep(rng.uniform(0.05, 1.5))
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
        final = _figbuild(server, root, tmp_path)
        _, stderr = final.communicate(timeout=120)
        assert final.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
        paid = _paid_prompts(server)
        assert len(paid) == len(set(paid)), "no request was paid for twice"
        assert posts(server) == len(paid)
        assert server.credits_charged == 10 * len(paid)
    lock = read(root / "figures.lock")
    for i in range(FIGURES):
        assert f"Figure {i}, version {versions[i]}" in paid
        record = lock.record(f"f{i}")
        assert record.pending == ()
        assert record.generated is not None
        output = root / record.generated.output
        assert sha256_file(output) == record.generated.sha256
        with Image.open(output) as image:
            image.load()
    debris = [p for p in root.rglob("*.figbuild-tmp") if ".figbuild" not in p.relative_to(root).parts]
    assert debris == []
