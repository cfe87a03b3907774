"""A paper on disk: its manifest, its lock file, and the state of its figures."""

from __future__ import annotations

import pytest

from figbuild.backends.paperbanana.terms import TERMS
from figbuild.errors import ManifestError
from figbuild.lockfile import Lock
from figbuild.paper import Paper
from figbuild.state import State

from .conftest import PaperFactory, simple_manifest


def test_open_finds_the_manifest_and_its_terms(make_paper: PaperFactory) -> None:
    root = make_paper(simple_manifest(a={"prompt": "Overview of {{ method }}"}, b={"prompt": "y"}))
    paper = Paper.open(root)
    assert paper.root == root
    assert paper.lock_path == root / "figures.lock"
    assert paper.terms is TERMS
    assert [figure.id for figure in paper.manifest.figures] == ["a", "b"]


def test_open_reports_schema_and_resolve_problems_together(make_paper: PaperFactory) -> None:
    root = make_paper(
        simple_manifest(
            bad={"prompt": "x", "resolution": "3K"},  # a schema problem
            undefined={"prompt": "Draw {{ nope }}"},  # found only by rendering
        )
    )
    with pytest.raises(ManifestError) as raised:
        Paper.open(root)
    figures = {problem.figure for problem in raised.value.problems}
    assert {"bad", "undefined"} <= figures


def test_no_lock_yet_reads_as_an_empty_one(make_paper: PaperFactory) -> None:
    paper = Paper.open(make_paper(simple_manifest(a={"prompt": "x"})))
    assert paper.read_lock() == Lock()


def test_resolve_all_or_the_named_figures(make_paper: PaperFactory) -> None:
    paper = Paper.open(make_paper(simple_manifest(a={"prompt": "x"}, b={"prompt": "y"})))
    assert [item.figure.id for item in paper.resolve()] == ["a", "b"]
    [only] = paper.resolve(("b",))
    assert (only.figure.id, only.request.prompt, only.cost) == ("b", "y", 10)


def test_statuses_look_at_the_lock_and_the_files(make_paper: PaperFactory) -> None:
    root = make_paper(simple_manifest(a={"prompt": "x"}, b={"prompt": "y"}))
    paper = Paper.open(root)
    statuses = paper.statuses(paper.resolve(), paper.read_lock())
    assert [(status.state, status.reasons) for status in statuses] == [
        (State.MISSING, ("never generated",)),
        (State.MISSING, ("never generated",)),
    ]
    (root / "figures").mkdir()
    (root / "figures" / "a.png").write_bytes(b"drawn by hand")
    first = paper.statuses(paper.resolve(("a",)), paper.read_lock())[0]
    assert first.state is State.MODIFIED
    assert first.reasons == ("file not written by figbuild",)


def test_a_survey_writes_the_paper_cache_once_and_a_second_one_reads_it(
    make_paper: PaperFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolving and the states share one write of the cache (it was two), and what both
    learnt is in it: the next survey reads no content file and hashes no output again."""
    import os

    from figbuild import atomic

    root = make_paper(
        simple_manifest(a={"prompt": "x", "content": "a.md"}, b={"prompt": "y", "content": "a.md"}),
        {"a.md": "# Intro\n\nSome text.\n"},
    )
    (root / "figures").mkdir()
    (root / "figures" / "a.png").write_bytes(b"image")
    old = 1_000_000_000
    for path in (root / "a.md", root / "figures" / "a.png", root / "figures.yaml"):
        os.utime(path, (old, old))  # not racy: the stat caches may record them
    writes: list[object] = []
    real = atomic.write_bytes
    monkeypatch.setattr(
        atomic, "write_bytes", lambda path, *a, **k: writes.append(path) or real(path, *a, **k)
    )
    paper = Paper.open(root)
    writes.clear()
    statuses, errors, problems = paper.survey((), paper.read_lock())
    assert writes == [paper.cache.path]
    assert not errors
    assert not problems
    again = Paper.open(root)
    assert again.cache.get("content", next(iter(again.cache._data["content"]))) is not None
    seen = [(s.id, s.state, s.fingerprint, s.output_sha256) for s in again.survey((), again.read_lock())[0]]
    assert seen == [(s.id, s.state, s.fingerprint, s.output_sha256) for s in statuses]
