"""YAML as plain data with lines (duplicate keys and alias bombs refused), read as editors
read it (YAML 1.2); no text makes figbuild crash."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import manifest as manifests
from figbuild import yamlsource
from figbuild.cli import cli
from figbuild.yamlsource import MAX_EXPANDED, TooLarge, from_json, load, to_json

TEXT = """\
version: 1
figures:
  a:
    prompt: x
    content:
      - one.tex
      - two.tex
"""


def test_data_and_lines() -> None:
    doc = load(TEXT)
    assert doc.data == {"version": 1, "figures": {"a": {"prompt": "x", "content": ["one.tex", "two.tex"]}}}
    assert doc.lines[()] == 1
    assert doc.line(("figures",)) == 2
    assert doc.line(("figures", "a", "prompt")) == 4
    assert doc.line(("figures", "a", "content", 1)) == 7
    assert doc.line(("figures", "a", "nope", "deeper")) == 3, "the nearest ancestor's line"
    assert doc.duplicates == []


def test_duplicate_keys_are_recorded_not_silently_dropped() -> None:
    doc = load("figures:\n  a: {prompt: x}\n  b: {prompt: y}\n  a: {prompt: z}\n")
    assert doc.duplicates == [(("figures",), "a", 4, 2)]


def test_an_empty_document() -> None:
    doc = load("")
    assert doc.data is None
    assert doc.line(("anything",)) is None


def test_invalid_yaml_raises_a_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError):
        load("a: [unclosed\n")


def test_aliases_are_shared_and_a_billion_laughs_is_refused() -> None:
    doc = load("base: &b [1, 2]\ncopy: *b\n")
    assert doc.data["copy"] == [1, 2]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
    )
    with pytest.raises(TooLarge, match=f"{MAX_EXPANDED:,}"):
        load(bomb)


def test_json_round_trip_for_the_cache() -> None:
    doc = load(TEXT)
    again = from_json(to_json(doc))
    assert (again.data, again.lines) == (doc.data, doc.lines)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16:9", "16:9"),  # YAML 1.1: 969
        ("1:30:00", "1:30:00"),  # YAML 1.1: 5400
        ("yes", "yes"),  # YAML 1.1: true
        ("No", "No"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("2024-01-01", "2024-01-01"),  # YAML 1.1: a date
        ("010", 10),  # YAML 1.1: 8
        ("0o10", 8),
        ("0x1F", 31),
        ("0b101", "0b101"),  # YAML 1.1: 5
        ("1_000", "1_000"),  # YAML 1.1: 1000
        ("1e3", 1000.0),  # PyYAML: the text "1e3"
        ("-2.5", -2.5),
        (".inf", float("inf")),
        ("true", True),
        ("FALSE", False),
        ("~", None),
        ("null", None),
        ("", None),
        ('"16:9"', "16:9"),
        ("'yes'", "yes"),
    ],
)
def test_plain_scalars_read_as_yaml_1_2_core(text: str, value: Any) -> None:
    assert yamlsource.load(f"value: {text}\n").data == {"value": value}


def test_an_unquoted_ratio_is_valid_as_in_the_editor(tmp_path: Path) -> None:
    (tmp_path / "figures.yaml").write_text(
        "version: 1\nfigures:\n  a:\n    prompt: x\n    aspect_ratio: 16:9\n"
    )
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "status", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["state"] == "missing"


def test_an_old_cached_reading_is_not_reused(tmp_path: Path) -> None:
    """The manifest cache is keyed by the way scalars are read, too."""
    from figbuild import manifest as manifests
    from figbuild.cache import Cache, key_of

    text = "version: 1\nvars: {ratio: 16:9}\nfigures:\n  a:\n    prompt: '{{ ratio }}'\n"
    path = tmp_path / "figures.yaml"
    path.write_text(text)
    cache = Cache(tmp_path)
    cache.replace("manifest", {key_of(text): {"data": {**yaml.safe_load(text)}, "lines": []}})
    manifest = manifests.load(path, cache)
    assert manifest.vars == {"ratio": "16:9"}


# -- no text makes figbuild crash ---------------------------------------------------------

#: Text built from YAML's structural characters, so anchors, aliases, tags, flow
#: collections and odd indentation come up often.
YAMLISH = st.text(
    alphabet=st.sampled_from(list("abcfiguresvpromt01:-[]{},&*!%|>'\"#?@` \n\t.~")), max_size=200
)

MANIFEST_KEYS = [
    "version",
    "output_dir",
    "defaults",
    "vars",
    "figures",
    "prompt",
    "content",
    "mode",
    "model",
    "resolution",
    "aspect_ratio",
    "image_input",
    "output",
    "frozen",
    "file",
    "section",
    "a",
    "b",
]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "pipeline",
            "standard",
            "1K",
            "16:9",
            "figures/a.png",
            "x.tex",
            "../x",
            "/abs",
            "{{ method }}",
            "{{ nope }}",
            "{% if %}",
            "https://example.org/a.png",
            "sk-abcdefghijk",
        ]
    ),
    st.text(max_size=20),
)
VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(MANIFEST_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
#: Figures close to valid: the schema's and validate's edges, not random noise.
CONTENT = st.sampled_from(["x.tex", "paper.md", "*.tex", "missing.tex", "../x.tex", "/x.tex", "sections/*"])
FIGURES = st.fixed_dictionaries(
    {"prompt": st.sampled_from(["A figure.", "{{ method }}", "{{ nope }}", "", "sk-abcdefghijk"])},
    optional={
        "mode": st.sampled_from(["pipeline", "standard", "fast"]),
        "resolution": st.sampled_from(["1K", "2K", "4k"]),
        "aspect_ratio": st.sampled_from(["16:9", "1:1", "16:10"]),
        "frozen": st.sampled_from([True, False, "yes"]),
        "output": st.sampled_from(["figures/a.png", "out/b.pdf", "a.gif", "../a.png", "/a.png"]),
        "content": CONTENT
        | st.lists(
            CONTENT | st.fixed_dictionaries({"file": CONTENT}, optional={"section": st.just("Method")}),
            max_size=3,
        ),
        "image_input": st.lists(
            st.sampled_from(["https://example.org/a.png", "http://x.org/a.png"]), max_size=2
        ),
    },
)
MANIFESTS = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 2, "1"]),
        "figures": st.dictionaries(st.sampled_from(["a", "b", "c d"]), VALUES, max_size=3),
    },
    optional={
        "defaults": VALUES
        | st.fixed_dictionaries({}, optional={"mode": st.sampled_from(["pipeline", "standard"])}),
        "vars": VALUES | st.just({"method": "FlowNet"}),
        "output_dir": VALUES | st.sampled_from(["figures", "../out", "/abs"]),
    },
)


def _run(text: str | bytes, *args: str) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as directory:
        # Content files some generated manifests name.
        (Path(directory) / "x.tex").write_text("\\section{Method}\nText.\n", encoding="utf-8")
        (Path(directory) / "paper.md").write_text("# Method\nText.\n", encoding="utf-8")
        path = Path(directory) / "figures.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        # catch_exceptions=False: a traceback fails the test instead of becoming exit 1.
        result = CliRunner().invoke(cli, ["-C", directory, *args], catch_exceptions=False)
        return result.exit_code, result.output


def _clear(code: int, output: str) -> None:
    assert code in (0, 2), output
    assert "Traceback" not in output
    if code == 2:
        assert "figures.yaml" in output or "figbuild: error" in output, output


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_is_a_manifest_or_clear_problems(text: str) -> None:
    _clear(*_run(text.encode("utf-8", "surrogatepass"), "validate"))


@PROPERTY
@given(YAMLISH)
def test_any_yamlish_text_is_a_manifest_or_clear_problems(text: str) -> None:
    _clear(*_run(text, "validate"))


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_are_a_manifest_or_clear_problems(data: bytes) -> None:
    _clear(*_run(data, "validate"))


@PROPERTY
@given(MANIFESTS)
def test_any_manifest_shaped_data_is_valid_or_clear_problems(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    _clear(*_run(text, "validate"))
    _clear(*_run(text, "status", "--json"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(YAMLISH, MANIFESTS.map(lambda data: yaml.safe_dump(data, sort_keys=False))))
def test_best_effort_sync_never_fails_on_any_manifest(text: str) -> None:
    code, output = _run(text, "sync", "--best-effort", "--placeholder")
    assert code == 0, output
    assert "Traceback" not in output


@PROPERTY
@given(MANIFESTS)
def test_the_schema_never_rejects_what_validate_accepts(data: dict[str, Any]) -> None:
    """Editors must not flag a manifest figbuild takes (the other direction is
    tests/test_manifest.py's parity test on the bad-manifest corpus)."""
    import jsonschema

    text = yaml.safe_dump(data, sort_keys=False)
    code, _ = _run(text, "validate")
    hypothesis.event("validate accepts" if code == 0 else "validate rejects")
    if code == 0:
        schema = json.loads(Path(manifests.SCHEMA_PATH).read_text(encoding="utf-8"))
        errors = [
            e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(yamlsource.load(text).data)
        ]
        assert errors == [], text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_the_size_counted_while_building_is_the_expanded_size(text: str) -> None:
    """The alias limit counts the values as it builds them, when no mapping or list is met
    twice; that count is the full walk's (which it spares most documents)."""
    try:
        doc = yamlsource.load(text)
    except Exception:  # invalid YAML, a tag, a recursive alias: not this test's business
        return
    if not doc.shared:
        assert 1 + doc.held == yamlsource._expanded_size(doc.data, {})


def test_text_reached_through_an_alias_is_the_same_text() -> None:
    doc = yamlsource.load("a: &x hello\nb: *x\nc: &l [*x, {d: *x}]\ne: *l\n")
    assert doc.data == {
        "a": "hello",
        "b": "hello",
        "c": ["hello", {"d": "hello"}],
        "e": ["hello", {"d": "hello"}],
    }
    assert doc.shared


@settings(max_examples=500, deadline=None)
@given(
    st.text(max_size=12)
    | st.sampled_from(["", "~", "null", "True", "0x1F", "0o17", "-3", "1e5", ".inf", "16:9"]),
    st.booleans(),
    st.booleans(),
)
def test_the_loaders_resolve_is_pyyamls(value: str, plain: bool, quoted: bool) -> None:
    """The loader's own resolve() (PyYAML's without its general cases) tags every scalar
    as PyYAML's BaseResolver.resolve does with the same table."""
    loader_class = yamlsource._loader_class()
    loader = loader_class("")
    try:
        base = next(c for c in loader_class.__mro__[1:] if "resolve" in vars(c))
        for kind in (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode):
            assert loader.resolve(kind, value, (plain, quoted)) == base.resolve(
                loader, kind, value, (plain, quoted)
            )
    finally:
        loader.dispose()
