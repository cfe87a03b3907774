"""Two machines on one team store, both killed with SIGKILL at random moments, again and again.

Against moto's S3 server and a folder alike. Each round both clones get the same
edit (two figures' prompts change) and both sync at once; both are killed. Then one
clean sync on each. Whatever the kills
interrupted (a claim, a POST, a push, a release), no request was paid for twice:
the API's charges equal the distinct requests, and both clones end with every
figure's current image.
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

from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import read

from .test_engine import posts
from .test_kill_loop import _paid_prompts
from .test_team import Remote, remote, s3_server  # noqa: F401 - fixtures: the same remotes as test_team

FIGURES = 4
KILLS = int(os.environ.get("FIGBUILD_KILLS", "6"))
SEED = int(os.environ.get("FIGBUILD_KILL_SEED", "20261203"))

pytestmark = pytest.mark.slow


def _manifest(versions: list[int]) -> str:
    figures = {f"f{i}": {"prompt": f"Figure {i}, version {v}"} for i, v in enumerate(versions)}
    return yaml.safe_dump({"version": 1, "figures": figures})


def _figbuild(server: Emulator, root: Path, home: Path, shared: Remote, name: str) -> subprocess.Popen[bytes]:
    env = {
        **shared.env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "FIGBUILD_STORE": str(home / "store"),
        "FIGBUILD_REMOTE": shared.url,
        "FIGBUILD_MACHINE": name,
        "FIGBUILD_CLAIM_EXPIRY": "1",
        "PAPERBANANA_BASE_URL": server.base_url,
        "PAPERBANANA_API_KEY": "sk-test-key",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "figbuild", "-q", "-C", str(root), "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_two_machines_killed_at_random_pay_once_per_request(
    tmp_path: Path,
    remote: Remote,  # noqa: F811 - the fixture imported above
) -> None:
    rng = random.Random(SEED)
    versions = [0] * FIGURES
    machines = []
    for name in ("laptop-a", "ci-b"):
        (tmp_path / name / "paper").mkdir(parents=True)
        (tmp_path / name / "home").mkdir()
        machines.append((name, tmp_path / name / "paper", tmp_path / name / "home"))
    with Emulator(EmulatorConfig(latency=0.4, image_scale=0.1, rpm=600)) as server:
        for _ in range(KILLS):
            for i in rng.sample(range(FIGURES), 2):
                versions[i] += 1
            for _, root, _ in machines:
                (root / "figures.yaml").write_text(_manifest(versions))
            runs = [_figbuild(server, root, home, remote, name) for name, root, home in machines]
            time.sleep(rng.uniform(0.3, 2.0))
            for run in runs:
                run.send_signal(signal.SIGKILL)
            for run in runs:
                run.wait(timeout=30)
        for name, root, home in machines:
            final = _figbuild(server, root, home, remote, name)
            _, stderr = final.communicate(timeout=240)
            assert final.returncode == 0, stderr.decode()
            assert b"Traceback" not in stderr
        paid = _paid_prompts(server)
        assert len(paid) == len(set(paid)), "a request was paid for twice"
        assert posts(server) == len(paid)
        assert server.credits_charged == 10 * len(paid)
    for _, root, _ in machines:
        lock = read(root / "figures.lock")
        for i in range(FIGURES):
            record = lock.record(f"f{i}")
            assert record.pending == ()
            assert record.generated is not None
            assert (root / record.generated.output).is_file()
