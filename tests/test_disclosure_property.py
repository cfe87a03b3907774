"""Property: whatever a paper went through, `disclose` lists exactly the figures whose
current image the API made, each with its model.

The "real API" is the bundled emulator served as if it were the real one (the seam
the engine offers: an ``ApiBackend`` whose images are recorded as generated); the
same emulator behind ``makes="emulator"`` is `sync --emulator`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import engine, history
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.cli import cli
from figbuild.digests import sha256_file
from figbuild.emulator import Emulator
from figbuild.errors import FigbuildError
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.store import Store

from .conftest import simple_manifest

FAST = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))
MODELS = {"fig_a": "nano-banana-pro", "fig_b": "nano-banana"}
MANIFEST = simple_manifest(
    **{fid: {"prompt": f"Figure {fid}", "mode": "standard", "model": model} for fid, model in MODELS.items()}
)

figure = st.sampled_from(sorted(MODELS))
operation = st.one_of(
    st.tuples(st.just("real"), figure, st.booleans(), st.sampled_from([1, 2])),
    st.tuples(st.just("emulator"), figure, st.booleans()),
    st.tuples(st.just("placeholder"), figure, st.booleans()),
    st.tuples(st.just("pick"), figure, st.sampled_from([1, 2])),
    st.tuples(st.just("restore"), figure, st.integers(1, 6)),
    st.tuples(st.just("accept"), figure),
)


def _sync(
    server: Emulator, root: Path, makes: str | None, fid: str, force: bool, candidates: int = 1
) -> None:
    paper = Paper.open(root)
    if makes is None:
        engine.sync(paper, PlaceholderBackend(), NullReporter(), ids=(fid,), force=force)
        return
    with Client(Settings(base_url=server.base_url, key="sk-property")) as client:
        backend = ApiBackend(client, FAST, makes=makes)
        engine.sync(paper, backend, NullReporter(), ids=(fid,), force=force, candidates=candidates)


def _apply(server: Emulator, root: Path, op: tuple[Any, ...], origin: dict[str, str | None]) -> None:
    """Carry ``op`` out and record, for every image it made, whether the API made it (its
    model) or not (None): the truth the statement is checked against."""
    kind, fid = op[0], op[1]
    seen = {entry.id for entry in Store.at(root).entries()}
    try:
        if kind == "real":
            _sync(server, root, "generated", fid, op[2], op[3])
        elif kind == "emulator":
            _sync(server, root, "emulator", fid, op[2])
        elif kind == "placeholder":
            _sync(server, root, None, fid, op[2])
        elif kind == "pick":
            history.pick(Paper.open(root), fid, op[2])
        elif kind == "restore":
            current = read(root / "figures.lock").record(fid).generated
            numbers = [v.number for v in history.versions(Store.at(root), fid, current)]
            if numbers:
                history.restore(Paper.open(root), fid, numbers[op[2] % len(numbers)])
        elif kind == "accept" and (root / "figures" / f"{fid}.png").exists():
            history.accept(Paper.open(root), [fid])
    except FigbuildError:
        pass  # e.g. no such candidate: nothing happened
    made_by = MODELS[fid] if kind == "real" else None
    for entry in Store.at(root).entries():
        if entry.id not in seen and kind in ("real", "emulator", "placeholder"):
            origin.setdefault(
                entry.sha256, made_by if entry.how.value in ("generated", "candidate") else None
            )


@pytest.mark.slow
@given(st.lists(operation, min_size=1, max_size=7))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_disclose_lists_exactly_the_figures_whose_image_the_api_made(
    emulator: Emulator, ops: list[tuple[Any, ...]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "figures.yaml").write_text(yaml.safe_dump(MANIFEST, sort_keys=False))
        origin: dict[str, str | None] = {}
        for op in ops:
            _apply(emulator, root, op, origin)
        expected = {}
        for fid in MODELS:
            sha = sha256_file(root / "figures" / f"{fid}.png")
            if sha is not None and read(root / "figures.lock").record(fid).generated is not None:
                assert sha in origin, (fid, ops)  # every image in place is one a sync made
                if origin[sha] is not None:
                    expected[fid] = origin[sha]
        result = CliRunner().invoke(cli, ["-C", str(root), "disclose", "--format", "json"])
        assert result.exit_code == 0, result.output
        listed = {item["id"]: item["model"] for item in json.loads(result.stdout)["figures"]}
        assert listed == expected, ops
