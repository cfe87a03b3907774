"""The installed console script, run as a user runs it: subprocesses, signals, a separate emulator."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import requests_mock as rm

from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.lockfile import read

from .conftest import PaperFactory

SCRIPT = shutil.which("figbuild") or ""
SECRET = "sk-SECRET-do-not-print-4f9a8b7c6d5e"

pytestmark = pytest.mark.skipif(not SCRIPT, reason="the figbuild console script is not installed")


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture
def emulator_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`figbuild emulator` in its own process; yields its base URL."""
    process = subprocess.Popen(
        [SCRIPT, "emulator", "--port", "0", "--latency", "1.5", "--rpm", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    base_url = first.rsplit(" ", 1)[-1].strip()
    assert base_url.startswith("http://127.0.0.1:"), first
    yield base_url, process
    process.send_signal(signal.SIGINT)
    process.wait(timeout=10)


def user_env(base_url: str) -> dict[str, str]:
    return {**os.environ, "PAPERBANANA_BASE_URL": base_url, "PAPERBANANA_API_KEY": "sk-user-key"}


def test_version() -> None:
    # Every command's --help is checked in test_cli_help.py.
    assert run("--version").stdout.startswith("figbuild, version ")


def test_python_dash_m_is_the_same_program() -> None:
    result = subprocess.run([sys.executable, "-m", "figbuild", "--version"], capture_output=True, text=True)
    assert result.stdout == run("--version").stdout


def test_missing_key_says_how_to_set_it(make_paper: PaperFactory) -> None:
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    env = {k: v for k, v in os.environ.items() if k != "PAPERBANANA_API_KEY"}
    result = run("-C", str(root), "sync", env=env)
    assert result.returncode == 2
    assert "PAPERBANANA_API_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_credits_and_tasks_against_a_separate_emulator(
    make_paper: PaperFactory, emulator_process: tuple[str, subprocess.Popen[str]]
) -> None:
    base_url, _ = emulator_process
    env = user_env(base_url)
    credits = run("credits", "--json", env=env)
    assert credits.returncode == 0, credits.stderr
    assert json.loads(credits.stdout) == {
        "remaining_credits": 75000,
        "team_plan": "team-basic",
        "rate_limit_rpm": 600,
    }
    root = make_paper(
        {"version": 1, "figures": {"a": {"prompt": "x", "resolution": "2K"}, "b": {"prompt": "y"}}}
    )
    assert run("-C", str(root), "sync", env=env).returncode == 0
    table = run("tasks", env=env)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "ID",
        "TYPE",
        "STATUS",
        "MODEL",
        "RES",
        "CREDITS",
        "CREATED",
    ]
    assert len(table.stdout.splitlines()) == 3
    listed = json.loads(run("tasks", "--json", "--status", "success", env=env).stdout)
    assert sorted(task["credits_used"] for task in listed) == [10, 15]
    assert json.loads(run("credits", "--json", env=env).stdout)["remaining_credits"] == 75000 - 25


def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _submitted(root: Path, count: int) -> bool:
    try:
        lock = read(root / "figures.lock")
    except Exception:
        return False
    confirmed = [p for record in lock.figures.values() for p in record.pending if p.task_id]
    return len(confirmed) >= count


def _paper(make_paper: PaperFactory, count: int) -> Path:
    figures = {f"f{i}": {"prompt": f"figure number {i}"} for i in range(count)}
    return make_paper({"version": 1, "figures": figures})


@pytest.mark.slow
def test_sigkill_mid_sync_then_resync_pays_once(
    make_paper: PaperFactory, emulator_process: tuple[str, subprocess.Popen[str]]
) -> None:
    base_url, _ = emulator_process
    env = user_env(base_url)
    root = _paper(make_paper, 6)
    process = subprocess.Popen(
        [SCRIPT, "-C", str(root), "sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(lambda: _submitted(root, 3))
    process.kill()
    process.wait(timeout=10)
    assert run("-C", str(root), "status", env=env).returncode == 0
    again = run("-C", str(root), "sync", env=env)
    assert again.returncode == 0, again.stderr
    rows = json.loads(run("-C", str(root), "status", "--json", env=env).stdout)
    assert {row["state"] for row in rows} == {"fresh"}
    tasks = json.loads(run("tasks", "--json", "--all", env=env).stdout)
    prompts = [task["prompt"] for task in tasks]
    assert sorted(prompts) == sorted(f"figure number {i}" for i in range(6)), "no figure submitted twice"


@pytest.mark.slow
def test_ctrl_c_records_pending_and_exits_130(
    make_paper: PaperFactory, emulator_process: tuple[str, subprocess.Popen[str]]
) -> None:
    base_url, _ = emulator_process
    env = user_env(base_url)
    root = _paper(make_paper, 3)
    process = subprocess.Popen(
        [SCRIPT, "-C", str(root), "sync"], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for(lambda: _submitted(root, 3))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "figbuild sync" in stderr
    assert "Traceback" not in stderr
    assert _submitted(root, 3)
    pending = json.loads(run("-C", str(root), "status", "--json", env=env).stdout)
    assert {row["state"] for row in pending} == {"pending"}
    assert run("-C", str(root), "sync", env=env).returncode == 0
    assert len(json.loads(run("tasks", "--json", "--all", env=env).stdout)) == 3
    assert not list(root.rglob("*.figbuild-tmp"))


def _interrupt_within_a_second(process: subprocess.Popen[str]) -> str:
    """SIGINT ``process``; it must exit 130 within ~1 s, without a traceback; its stderr."""
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    took = time.monotonic() - sent
    assert process.returncode == 130, stderr
    assert took < 1.8, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in stderr
    return stderr


@pytest.mark.slow
def test_ctrl_c_interrupts_a_hung_post_at_once_and_keeps_its_mark(make_paper: PaperFactory) -> None:
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
        server.config.faults.hang_seconds = 3.0
        server.config.faults.inject("hang", "submit")
        env = user_env(server.base_url)
        root = _paper(make_paper, 1)
        process = subprocess.Popen(
            [SCRIPT, "-C", str(root), "sync"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _wait_for(lambda: (root / "figures.lock").exists())  # the mark, written before the POST
        time.sleep(0.3)
        _interrupt_within_a_second(process)
        [mark] = read(root / "figures.lock").record("f0").pending
        assert mark.task_id is None, "the hung POST may create a task: its mark stays"
        _wait_for(lambda: server.count("POST", "/api/v1/generate") == 1)  # the server finished it
        assert run("-C", str(root), "sync", env=env).returncode == 0
        assert server.count("POST", "/api/v1/generate") == 1, "found by reconciliation, not paid again"
        assert len(server.tasks()) == 1


@pytest.mark.slow
def test_ctrl_c_interrupts_a_trickling_download_at_once(make_paper: PaperFactory) -> None:
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.25)) as server:
        server.config.faults.trickle_delay = 0.1  # 1 KiB every 0.1 s: a minute or more for the image
        server.config.faults.inject("trickle", "download")
        env = user_env(server.base_url)
        root = _paper(make_paper, 1)
        process = subprocess.Popen(
            [SCRIPT, "-C", str(root), "sync"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _wait_for(lambda: _submitted(root, 1))
        _wait_for(lambda: list((root / "figures").glob("*.figbuild-tmp")) != [])  # the download began
        time.sleep(0.3)
        _interrupt_within_a_second(process)
        assert _submitted(root, 1), "the task is recorded as pending"
        assert not (root / "figures/f0.png").exists()
        assert not list(root.rglob("*.figbuild-tmp")), "the temp file of the cut download is gone"
        assert run("-C", str(root), "sync", env=env).returncode == 0
        assert server.count("POST", "/api/v1/generate") == 1


# -- the key never shows ------------------------------------------------------------------

BASE = "https://api.example.test/api/v1"
CREDITS = {
    "success": True,
    "data": {"remaining_credits": 5, "team_plan": "team-basic", "rate_limit_rpm": 120},
}


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERBANANA_API_KEY", SECRET)
    monkeypatch.setenv("PAPERBANANA_BASE_URL", BASE)


@pytest.mark.usefixtures("secret_env")
@pytest.mark.parametrize("case", ["401", "500", "timeout", "ok"])
def test_key_never_printed_even_verbose(  # type: ignore[no-untyped-def]
    requests_mock: rm.Mocker, run_cli, make_paper: PaperFactory, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    if case == "401":
        # A server that echoes the key back in its error must not get it printed either.
        requests_mock.get(
            f"{BASE}/credits", status_code=401, json={"success": False, "error": f"invalid key {SECRET}"}
        )
    elif case == "500":
        requests_mock.get(f"{BASE}/credits", status_code=500, json={"success": False, "error": "boom"})
    elif case == "timeout":
        requests_mock.get(f"{BASE}/credits", exc=requests.ReadTimeout(f"read timed out for Bearer {SECRET}"))
    else:
        requests_mock.get(f"{BASE}/credits", json=CREDITS)
    monkeypatch.setattr(
        "figbuild.backends.paperbanana.retry.backoff", lambda attempt, base=0.5: 0.0
    )  # no real waiting in a test
    result = run_cli("-v", "credits")
    synced = run_cli("-v", "-C", str(make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})), "sync")
    assert result.exit_code == (0 if case == "ok" else 1)
    for output in (result.output, synced.output):
        assert SECRET not in output
        assert "api: GET /credits" in output, "verbose output was shown"


def test_a_key_with_stray_whitespace_echoed_in_a_401_is_never_printed(
    make_paper: PaperFactory,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
        server.config.faults.inject("echo_key", count=100)
        monkeypatch.setenv("PAPERBANANA_BASE_URL", server.base_url)
        for raw in (f" {SECRET}", f"{SECRET}\n"):
            monkeypatch.setenv("PAPERBANANA_API_KEY", raw)
            result = run_cli("-v", "sync", root=_paper(make_paper, 1))
            assert result.exit_code == 1
            assert "invalid API key" in result.output
            assert SECRET[3:] not in result.output


@pytest.mark.parametrize("raw", ["sk-abc\ndef-0123456789", "sk-\u00fcber\u2013key-0123456789"])
def test_a_key_with_a_line_break_or_non_latin1_character_is_a_usage_error(
    make_paper: PaperFactory,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,
    raw: str,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("PAPERBANANA_API_KEY", raw)
    started = time.monotonic()
    result = run_cli("sync", root=_paper(make_paper, 1))
    assert result.exit_code == 2
    assert "PAPERBANANA_API_KEY contains" in result.stderr
    assert "0123456789" not in result.output
    assert time.monotonic() - started < 5, "refused at once, not after retries"


def test_a_sync_with_nothing_to_do_needs_no_key(make_paper: PaperFactory) -> None:
    # A collaborator without a key builds the paper: figures are current, so no key is asked for.
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "x"}}})
    env = {k: v for k, v in os.environ.items() if k != "PAPERBANANA_API_KEY"}
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as server:
        keyed = {**env, "PAPERBANANA_API_KEY": "sk-test-key", "PAPERBANANA_BASE_URL": server.base_url}
        assert run("-C", str(root), "sync", env=keyed).returncode == 0
    assert run("-C", str(root), "sync", env=env).returncode == 0
    (root / "figures.yaml").write_text("version: 1\nfigures:\n  a:\n    prompt: changed\n")
    assert run("-C", str(root), "sync", env=env).returncode == 2


def test_status_loads_no_heavy_module(make_paper: PaperFactory) -> None:
    # Start-up is part of the product: status never needs the network stack, Pillow or
    # watchdog; a valid manifest never needs jsonschema (figbuild.schemacheck says it is
    # valid), and once it is cached, neither YAML nor the schema; plain prompts no Jinja2.
    figures = {f"f{i}": {"prompt": "Figure {{ method }}", "content": "a.tex"} for i in range(200)}
    root = make_paper({"version": 1, "vars": {"method": "X"}, "figures": figures}, {"a.tex": "Text.\n"})
    probe = (
        "import atexit, sys\n"
        "heavy = ('requests', 'PIL', 'watchdog', 'jinja2', 'jsonschema', 'yaml')\n"
        "atexit.register(lambda: print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr))\n"
        "from figbuild.cli import main\n"
        f"main(['-C', {str(root)!r}, 'status'])\n"
    )
    cold = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    warm = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert cold.returncode == warm.returncode == 0
    assert cold.stderr.strip() == "['yaml']"
    assert warm.stderr.strip() == "[]"
    assert warm.stdout == cold.stdout
    uncached = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "FIGBUILD_NO_CACHE": "1"},
    )
    assert uncached.stderr.strip() == "['jsonschema', 'yaml']"  # nothing remembered, no shortcut
    assert uncached.stdout == cold.stdout


def test_an_invalid_manifest_is_still_explained_by_the_schema(make_paper: PaperFactory) -> None:
    """The schema shortcut only ever says "valid": an invalid manifest gets jsonschema's
    problems, as before it."""
    root = make_paper({"version": 1, "figures": {"a": {"prompt": "P", "resolution": "8K"}}}, {})
    done = subprocess.run([SCRIPT, "-C", str(root), "status"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "resolution" in done.stderr
    assert "'8K' is not one of: 1K, 2K, 4K" in done.stderr


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
def test_the_emulator_stops_on_sigint_even_when_started_with_it_ignored() -> None:
    # A script's background job (`figbuild emulator &`) starts with SIGINT ignored; the
    # emulator runs until Ctrl-C, so it must still stop on it (it used to run forever).
    process = subprocess.Popen(
        [SCRIPT, "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignoring_sigint,
    )
    try:
        assert process.stdout is not None
        assert "listening on http://127.0.0.1:" in process.stdout.readline()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert "emulator stopped" in stderr
    finally:
        process.kill()
        process.wait()
