"""From a validated manifest to the exact request of every figure, every problem at once."""

from __future__ import annotations

import json

import pytest

from figbuild import manifest as manifests
from figbuild.backends.paperbanana.terms import TERMS
from figbuild.cache import Cache, key_of
from figbuild.errors import ManifestError
from figbuild.manifest import Manifest
from figbuild.request import FREE
from figbuild.resolve import resolve

from .conftest import PaperFactory


def load(
    make_paper: PaperFactory, figures: dict[str, object], files: dict[str, str] | None = None
) -> Manifest:
    root = make_paper({"version": 1, "vars": {"method": "FlowNet", "unused": 1}, "figures": figures}, files)
    return manifests.load(root / "figures.yaml")


def problems(manifest: Manifest, **kwargs: object) -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(ManifestError) as raised:
        resolve(manifest, **kwargs)  # type: ignore[arg-type]
    return [(p.figure, p.key, p.message) for p in raised.value.problems]


def test_prompts_are_rendered_and_content_read(make_paper: PaperFactory) -> None:
    manifest = load(
        make_paper,
        {"a": {"prompt": "Overview of {{ method }}", "content": "a.tex", "resolution": "2K"}},
        {"a.tex": "Some text.\n"},
    )
    [item] = resolve(manifest, terms=TERMS)
    assert item.figure.id == "a"
    assert item.request.prompt == "Overview of FlowNet"
    assert item.request.resolution == "2K"
    assert [part.label for part in item.request.content] == ["a.tex"]
    assert item.cost == 15
    assert "var:method" in item.fingerprint.parts
    assert "var:unused" not in item.fingerprint.parts, "only the vars the template reads are recorded"


def test_free_terms_cost_nothing(make_paper: PaperFactory) -> None:
    [item] = resolve(load(make_paper, {"a": {"prompt": "x"}}))
    assert item.cost == 0


def test_only_the_figures_asked_for(make_paper: PaperFactory) -> None:
    manifest = load(make_paper, {"a": {"prompt": "x"}, "b": {"prompt": "y"}})
    assert [item.figure.id for item in resolve(manifest, manifest.select(("b",)))] == ["b"]


def test_every_problem_of_every_figure_is_reported_together(make_paper: PaperFactory) -> None:
    manifest = load(
        make_paper,
        {
            "bad_var": {"prompt": "Draw {{ nope }}"},
            "no_file": {"prompt": "x", "content": "missing.tex"},
            "fine": {"prompt": "x"},
            "too_long": {"prompt": "{{ method * 2000 }}"},
        },
    )
    found = problems(manifest, terms=TERMS)
    assert [(figure, key) for figure, key, _ in found] == [
        ("bad_var", "prompt"),
        ("no_file", "content"),
        ("too_long", "prompt"),
    ]
    assert "define it under vars" in found[0][2]
    assert found[2][2] == "renders to 14,000 characters; the API allows 10,000"
    assert resolve(manifest, manifest.select(("too_long",))), "no limit under free terms"


def test_content_over_the_limit_names_a_fix(make_paper: PaperFactory) -> None:
    manifest = load(make_paper, {"a": {"prompt": "x", "content": "big.tex"}}, {"big.tex": "word " * 25_000})
    with pytest.raises(ManifestError) as raised:
        resolve(manifest, terms=TERMS)
    [problem] = raised.value.problems
    assert problem.key == "content"
    assert problem.message.endswith("characters; the API allows 100,000")
    assert problem.hint == "pick a section instead of whole files"
    assert resolve(manifest, terms=FREE)


def test_rendered_prompts_are_cached_by_template_and_vars(make_paper: PaperFactory) -> None:
    template = "Overview of {{ method }}"
    manifest = load(make_paper, {"a": {"prompt": template}})
    key = key_of(template, json.dumps(manifest.vars, sort_keys=True, default=str))
    first = resolve(manifest, cache=Cache(manifest.root))
    assert Cache(manifest.root).get("prompts", key) == ["Overview of FlowNet", ["method"]]
    assert resolve(manifest, cache=Cache(manifest.root)) == first
    # What the cache says is what is used: it is keyed by everything the render depends on.
    poisoned = Cache(manifest.root)
    poisoned.put("prompts", key, ["from the cache", ["method"]])
    [item] = resolve(manifest, cache=poisoned)
    assert item.request.prompt == "from the cache"
