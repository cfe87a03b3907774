"""The starter manifest `figbuild init` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from figbuild import manifest as manifests
from figbuild.errors import UsageError
from figbuild.starter import STARTER, write_starter


def test_the_starter_is_a_valid_manifest(tmp_path: Path) -> None:
    path = write_starter(tmp_path)
    assert path == tmp_path / "figures.yaml"
    assert path.read_text(encoding="utf-8") == STARTER
    manifest = manifests.load(path)
    assert [figure.id for figure in manifest.figures] == ["overview"]
    assert manifest.vars == {"method": "MyMethod"}


def test_an_existing_manifest_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "figures.yaml").write_text("mine\n", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists") as raised:
        write_starter(tmp_path)
    assert raised.value.hint
    assert (tmp_path / "figures.yaml").read_text(encoding="utf-8") == "mine\n"
