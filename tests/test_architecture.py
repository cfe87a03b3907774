"""The import directions of docs/architecture.md, checked by import-linter on every run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports reads [tool.importlinter] from pyproject.toml in its working directory
    # and imports the root package from sys.path: the copy under test comes first.
    script = Path(sys.executable).with_name("lint-imports")
    if not script.exists():
        pytest.fail("lint-imports is missing: pip install -e '.[test]' installs import-linter")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(script), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_every_import_points_the_way_the_architecture_says() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("content/__init__.py", "from figbuild import backends", "The pipeline is layered"),
        ("state.py", "import requests", "Only the Paper Banana client loads requests"),
        ("plan.py", "import click", "Only the CLI uses click"),
        ("emulator/service.py", "from figbuild import manifest", "The emulator stands alone"),
        ("gallery/model.py", "from figbuild.gallery import thumbs", "The gallery is layered"),
        ("team.py", "import boto3", "Only the S3 remote loads boto3"),
    ],
)
def test_a_lower_layer_importing_a_higher_one_is_caught(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    shutil.copytree(ROOT / "figbuild", tmp_path / "figbuild", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "figbuild" / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{line}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "1 broken" in result.stdout
    assert f"{broken}" in result.stdout
    verdicts = [line for line in result.stdout.splitlines() if line.endswith((" KEPT", " BROKEN"))]
    assert [line for line in verdicts if line.endswith(" BROKEN")] == [
        line for line in verdicts if line.startswith(broken)
    ]
