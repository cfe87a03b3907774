"""figbuild.schemacheck says a manifest is valid exactly when jsonschema finds no error.

It stands in for jsonschema whenever it answers, so a wrong "valid" would let a broken
manifest through without its problems, and a wrong "invalid" only costs time: both
are compared on generated documents near and far from the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import manifest as manifests
from figbuild import schemacheck, yamlsource

SCHEMA = json.loads(manifests.SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
EXAMPLE = Path(__file__).resolve().parents[1] / "example-paper" / "figures.yaml"

#: Values that sit on the schema's edges: types Python mixes up, and near misses.
EDGES = [
    None,
    True,
    False,
    0,
    1,
    2,
    8,
    9,
    -1,
    1.0,
    2.0,
    2.5,
    "",
    " ",
    "1",
    "yes",
    "a.png",
    "figures/a.png",
    "a.PNG",
    "a.gif",
    "/abs.png",
    "../up.png",
    "a/../b.png",
    "x..y.png",
    "sections/a.tex",
    "sections/*.tex",
    "notes.txt",
    "sk-abcdefgh1234",
    "see sk-abc",
    "https://example.org/a.png",
    "http://example.org/a.png",
    "pipeline",
    "standard",
    "nano-banana-pro",
    "nano-banana-3",
    "1K",
    "2K",
    "4K",
    "8K",
    "1:1",
    "16:9",
    "16:10",
    "s3://my-bucket/prefix",
    "s3://Bad",
    "file:///tmp/x",
    "Method",
]
KEYS = [
    "prompt",
    "content",
    "output",
    "mode",
    "model",
    "resolution",
    "aspect_ratio",
    "image_input",
    "frozen",
    "keep_figures",
    "candidates",
    "file",
    "section",
    "label",
    "other",
    "token",
    "api_key",
]

scalars = st.sampled_from(EDGES) | st.integers(-3, 12) | st.text(max_size=6)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)
content_part = st.sampled_from(EDGES) | st.fixed_dictionaries(
    {"file": st.sampled_from(EDGES)},
    optional={"section": st.sampled_from(EDGES), "label": st.sampled_from(EDGES), "other": scalars},
)
figure = st.fixed_dictionaries(
    {},
    optional={
        "prompt": st.sampled_from(["Draw {{ method }}.", "", "sk-abcdefgh1234", 3]) | st.text(max_size=8),
        "content": content_part | st.lists(content_part, max_size=3) | values,
        "output": st.sampled_from(EDGES),
        "mode": st.sampled_from(EDGES),
        "model": st.sampled_from(EDGES),
        "resolution": st.sampled_from(EDGES),
        "aspect_ratio": st.sampled_from(EDGES),
        "image_input": st.lists(st.sampled_from(EDGES), max_size=12) | values,
        "frozen": st.sampled_from(EDGES),
        "keep_figures": st.sampled_from(EDGES),
        "candidates": st.sampled_from(EDGES),
        "other": values,
    },
)
ids = st.sampled_from(["a", "fig-1", "b_2", "bad id", "", "x.y"]) | st.integers(0, 3)
documents = (
    st.fixed_dictionaries(
        {},
        optional={
            "version": st.sampled_from([1, 1.0, True, "1", 2]),
            "figures": st.dictionaries(ids, figure | values, max_size=4) | values,
            "output_dir": st.sampled_from(EDGES),
            "remote": st.sampled_from(EDGES),
            "defaults": figure | values,
            "vars": st.dictionaries(st.sampled_from(["method", "x1", "1x", "_a", "a-b"]), values, max_size=3)
            | values,
            "disclosure": st.fixed_dictionaries(
                {}, optional={"output": st.sampled_from(EDGES), "template": st.sampled_from(EDGES)}
            )
            | values,
            "other": values,
        },
    )
    | values
)


#: Values each key takes in a valid manifest.
GOOD: dict[str, list[Any]] = {
    "prompt": ["Draw {{ method }}.", "A diagram."],
    "content": ["sections/a.tex", "sections/*.tex", ["notes.txt"], {"file": "a.md", "section": "Method"}],
    "output": ["figures/a.png", "b.pdf", "c.JPEG"],
    "mode": ["pipeline", "standard"],
    "model": ["nano-banana-pro", "nano-banana-2"],
    "resolution": ["1K", "4K"],
    "aspect_ratio": ["16:9", "1:1"],
    "image_input": [[], ["https://example.org/a.png"]],
    "frozen": [True, False],
    "keep_figures": [False],
    "candidates": [1, 8],
}


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest that is valid but for, now and then, one value."""

    def value(key: str) -> Any:
        if draw(st.integers(0, 11)) == 0:
            return draw(st.sampled_from(EDGES) | values)
        return draw(st.sampled_from(GOOD[key]))

    figures = {}
    for index in range(draw(st.integers(1, 4))):
        spec = {"prompt": value("prompt")}
        for key in draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=4, unique=True)):
            spec[key] = value(key)
        if spec.get("mode") == "standard" and draw(st.booleans()):
            spec.pop("content", None)
        figures[f"fig-{index}"] = spec
    document: dict[str, Any] = {"version": 1, "figures": figures}
    if draw(st.booleans()):
        document["defaults"] = {"mode": value("mode")}
    if draw(st.booleans()):
        document["vars"] = {"method": draw(st.sampled_from(["GraphFlow", 3, ["a"], "sk-abcdefgh1234"]))}
    return document


def jsonschema_valid(document: Any) -> bool:
    return not any(True for _ in VALIDATOR.iter_errors(document))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_it_answers_as_jsonschema_does(document: Any) -> None:
    answer = schemacheck.valid(document)
    assert answer is None or answer == jsonschema_valid(document), document


@settings(max_examples=1000, deadline=None)
@given(near_valid())
def test_valid_manifests_and_near_misses_are_answered_right(document: dict[str, Any]) -> None:
    """Manifests, most valid, some one value off: each answered (not left to jsonschema)
    and answered as jsonschema would."""
    answer = schemacheck.valid(document)
    assert answer is None or answer == jsonschema_valid(document), document


def test_the_shipped_schema_compiles_and_a_real_manifest_is_valid() -> None:
    doc = yamlsource.load(EXAMPLE.read_text(encoding="utf-8"))
    assert schemacheck.valid(doc.data) is True
    assert jsonschema_valid(doc.data)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # jsonschema takes 2.0 for an integer, and 1.0 and True for 1: left to it
        ({"version": 1, "figures": {"a": {"prompt": "p", "candidates": 2.0}}}, None),
        ({"version": 1.0, "figures": {"a": {"prompt": "p"}}}, None),
        ({"version": True, "figures": {"a": {"prompt": "p"}}}, None),
        ({"version": 1, "figures": {"a": {"prompt": "p"}}}, True),
        ({"version": 1, "figures": {"a": {"prompt": "p", "candidates": 9}}}, False),
        ({"version": 1, "figures": {"a": {"prompt": "p", "output": "../a.png"}}}, False),
        (
            {
                "version": 1,
                "defaults": {"mode": "standard"},
                "figures": {"a": {"prompt": "p", "content": "x"}},
            },
            False,
        ),
    ],
)
def test_edges_are_left_to_jsonschema_or_answered_right(
    document: dict[str, Any], expected: bool | None
) -> None:
    assert schemacheck.valid(document) is expected
    assert expected is None or expected == jsonschema_valid(document)


def test_a_keyword_it_does_not_know_refuses_the_schema() -> None:
    with pytest.raises(schemacheck.Unsupported):
        schemacheck.compile_schema({"type": "object", "dependentRequired": {"a": ["b"]}})


def test_without_the_cache_jsonschema_checks_every_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIGBUILD_NO_CACHE: the shortcut is not taken (what the oracle compares against)."""
    calls: list[Any] = []
    monkeypatch.setattr(schemacheck, "valid", lambda data: calls.append(data) or True)
    monkeypatch.setattr(manifests, "valid", schemacheck.valid)
    doc = yamlsource.load(EXAMPLE.read_text(encoding="utf-8"))
    assert list(manifests._schema_problems("figures.yaml", doc)) == []
    assert len(calls) == 1
    monkeypatch.setenv("FIGBUILD_NO_CACHE", "1")
    assert list(manifests._schema_problems("figures.yaml", doc)) == []
    assert len(calls) == 1


@settings(max_examples=500, deadline=None)
@given(documents | near_valid())
def test_the_secret_precheck_passes_every_document_with_a_secret_problem(document: Any) -> None:
    """A manifest the quick walk finds no credential in has no credential problem."""
    doc = yamlsource.YamlDocument(document)
    if not manifests._may_hold_secrets(document):
        assert list(manifests._secret_problems("figures.yaml", doc, document, (), set())) == []
