"""`figbuild example DIR`: the example paper from package data, also from an installed wheel.

The package ships ``figbuild/example/``, a copy of the repository's ``example-paper/``
(the one the docs and the design name); the first test keeps the two identical.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .conftest import all_files

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example-paper"
PACKAGED = REPO / "figbuild" / "example"

RunCli = Callable[..., Result]


def _source_files(root: Path) -> dict[str, bytes]:
    """The example paper's files, without what a build of it leaves (its .gitignore)."""
    ignored = [
        line.strip()
        for line in (root / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {
        name: data
        for name, data in all_files(root).items()
        if not name.startswith(".figbuild/") and not any(fnmatch.fnmatch(name, pat) for pat in ignored)
    }


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="needs a checkout (example-paper/)")
def test_the_packaged_example_is_the_repositorys_example_paper() -> None:
    repository, packaged = _source_files(EXAMPLE), all_files(PACKAGED)
    assert sorted(packaged) == sorted(repository), (
        "figbuild/example/ must be a copy of example-paper/: cp -a example-paper/. figbuild/example/"
    )
    changed = [name for name in packaged if packaged[name] != repository[name]]
    assert changed == [], f"edited in one place only (copy example-paper/ over figbuild/example/): {changed}"
    for name in (".latexmkrc", "latexmkrc", "Makefile", "paper.tex", "paper.md", "figures.lock"):
        assert name in packaged


def test_example_writes_every_file_into_a_new_folder(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("example", str(tmp_path / "try" / "it"))
    assert result.exit_code == 0, result.stderr
    assert all_files(tmp_path / "try" / "it") == all_files(PACKAGED)
    assert "sync --emulator" in result.stderr
    rows = json.loads(run_cli("status", "--json", root=tmp_path / "try" / "it").stdout)
    assert [row["id"] for row in rows] == ["overview", "training-loop", "appendix-details", "teaser"]


def test_example_into_an_empty_folder_relative_to_dash_c(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "empty").mkdir()
    assert run_cli("-C", str(tmp_path), "example", "empty").exit_code == 0
    assert (tmp_path / "empty" / "figures.yaml").is_file()


def test_example_refuses_a_folder_that_is_not_empty(tmp_path: Path, run_cli: RunCli) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = run_cli("example", str(target))
    assert result.exit_code == 2
    assert "is not empty" in result.stderr
    assert all_files(target) == {"notes.txt": b"mine"}
    (tmp_path / "file").write_text("x")
    assert run_cli("example", str(tmp_path / "file")).exit_code == 2


# --- from an installed wheel, in a clean venv ------------------------------------------------------


def _build_wheel(out: Path) -> Path:
    """figbuild's wheel, built from this checkout (offline when hatchling is installed here)."""
    try:
        import hatchling  # noqa: F401

        isolation = ["--no-build-isolation"]
    except ImportError:
        isolation = []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("figbuild-*.whl")
    return wheel


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "pyproject.toml").is_file(), reason="needs a checkout to build the wheel")
def test_example_from_an_installed_wheel_in_a_clean_venv(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The wheel unpacked as pip installs it; its dependencies come from this venv's
    # site-packages (appended after the clean venv's own, and without this checkout's
    # editable hook: a .pth line adds a folder, it does not run the .pth files in it).
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 and "no such option: --python" in done.stderr:
        pytest.skip("pip too old for --python")
    assert done.returncode == 0, done.stderr[-3000:]
    (site / "deps-from-the-test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    figbuild = shutil.which("figbuild", path=env["PATH"])
    assert figbuild == str(env_dir / "bin" / "figbuild")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [figbuild, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        return done

    where = subprocess.run(
        [str(python), "-c", "import figbuild; print(figbuild.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(env_dir)), f"figbuild imported from the wheel, not the checkout: {where}"
    run("example", "try-figbuild")
    assert all_files(work / "try-figbuild") == all_files(PACKAGED)
    run("-C", "try-figbuild", "sync", "--emulator")
    assert "(emulator image)" in run("-C", "try-figbuild", "status").stdout
    rows = json.loads(run("-C", "try-figbuild", "status", "--json").stdout)
    assert {row["id"]: row["reasons"] for row in rows} == {
        "overview": ["emulator image"],
        "training-loop": ["emulator image"],
        "appendix-details": ["emulator image"],
        "teaser": ["emulator image"],
    }
