"""figbuild's own toolchain: pinned linters, and the pre-commit hook as users configure it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    tomllib = None

import pytest

REPO = Path(__file__).resolve().parent.parent


def _lint_extra() -> list[str]:
    if tomllib is None:
        pytest.skip("tomllib is Python 3.11+")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["optional-dependencies"]["lint"])


def test_every_linter_is_pinned_so_a_new_release_cannot_break_ci() -> None:
    lint = _lint_extra()
    assert lint, "the lint extra lists the linters"
    unpinned = [requirement for requirement in lint if not re.fullmatch(r"[\w.-]+==[\w.]+", requirement)]
    assert unpinned == []
