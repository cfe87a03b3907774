"""YAML as plain data with the line of every key; duplicate keys and alias bombs refused."""

from __future__ import annotations

import pytest
import yaml

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
