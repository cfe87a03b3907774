"""Shared fixtures: an isolated environment, a factory for papers on disk, emulators on loopback."""

from __future__ import annotations

import signal
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from figbuild.cli import cli
from figbuild.emulator import Emulator, EmulatorConfig

PaperFactory = Callable[..., Path]
EmulatorFactory = Callable[..., Emulator]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may use a real key, reach the real API, or touch the user's home."""
    monkeypatch.delenv("PAPERBANANA_API_KEY", raising=False)
    # A loopback port nothing listens on: an accidental real request fails at once.
    monkeypatch.setenv("PAPERBANANA_BASE_URL", "http://127.0.0.1:9/api/v1")
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    # Never the user's real keyring (when the keyring package is installed): the file store.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    # The suite may itself run as a GitHub Actions step: figbuild would annotate there.
    for variable in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def make_paper(tmp_path: Path) -> PaperFactory:
    """Write a paper: ``files`` maps relative paths to text; ``manifest`` is a dict
    (dumped as YAML) or raw text. Returns the paper root."""

    def make(
        manifest: dict[str, Any] | str | None = None,
        files: dict[str, str] | None = None,
        root: Path | None = None,
    ) -> Path:
        root = root or tmp_path / "paper"
        root.mkdir(parents=True, exist_ok=True)
        for relative, text in (files or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        if manifest is not None:
            text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False)
            (root / "figures.yaml").write_text(text, encoding="utf-8")
        return root

    return make


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    """Start emulators on loopback with ``EmulatorConfig`` overrides; every one is stopped
    after the test, whatever happens. Images are small (``image_scale=0.1``) unless set."""
    started: list[Emulator] = []

    def make(**settings: Any) -> Emulator:
        settings.setdefault("image_scale", 0.1)
        emulator = Emulator(EmulatorConfig(**settings))
        started.append(emulator)
        return emulator.start()

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    """An emulator with the default configuration (small images)."""
    return make_emulator()


def simple_manifest(**figures: dict[str, Any]) -> dict[str, Any]:
    """A valid manifest with the given figures (each a dict of figure keys)."""
    return {"version": 1, "vars": {"method": "FlowNet"}, "figures": figures}


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Run the CLI in-process through click's runner, exactly as the console script does."""

    def run(*args: str, root: Path | None = None) -> Result:
        argv = (["-C", str(root)] if root is not None else []) + list(args)
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    return run


def all_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to prove a command wrote nothing."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


__all__ = ["EmulatorFactory", "PaperFactory", "all_files", "simple_manifest"]


def pytest_configure(config: pytest.Config) -> None:
    """A test run started with SIGINT ignored (a shell's background job, `pytest &`) would
    pass the ignore on to every child: the tests that press Ctrl-C on a figbuild would
    see it ignored, and the in-process ones could never interrupt. Ctrl-C is restored
    for the run, as a user's terminal has it."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
