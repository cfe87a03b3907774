"""Fingerprints: one digest of the exact request, and parts that say what changed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from figbuild.content import ContentPart
from figbuild.fingerprint import SCHEME, Fingerprint, compute, reasons
from figbuild.request import Request

TEMPLATE = "Draw {{ method }}"


def request(**changes: object) -> Request:
    base = Request(
        "pipeline",
        "Draw X",
        "nano-banana-pro",
        "1K",
        "1:1",
        content=(ContentPart.of("a.tex", None, "body"),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def fingerprint(
    template: str = TEMPLATE, variables: dict[str, object] | None = None, **changes: object
) -> Fingerprint:
    return compute(request(**changes), template, {"method": "X"} if variables is None else variables)


def test_the_same_request_has_the_same_fingerprint() -> None:
    first, second = fingerprint(), fingerprint()
    assert first == second
    assert first.digest.startswith("sha256:")
    assert len(first.digest) == len("sha256:") + 64
    assert SCHEME == 1


def test_the_digest_covers_every_field_of_the_request() -> None:
    digests = {
        fingerprint().digest,
        fingerprint(type="standard").digest,
        fingerprint(prompt="Draw Y").digest,
        fingerprint(model="nano-banana").digest,
        fingerprint(resolution="2K").digest,
        fingerprint(aspect_ratio="16:9").digest,
        fingerprint(image_input=("https://e.org/a.png",)).digest,
        fingerprint(content=(ContentPart.of("a.tex", None, "other body"),)).digest,
        fingerprint(content=(ContentPart.of("b.tex", None, "body"),)).digest,
    }
    assert len(digests) == 9


def test_content_counts_by_digest_whether_or_not_the_text_was_read() -> None:
    read = ContentPart.of("a.tex", None, "body")
    unread = replace(read, text=None)
    assert fingerprint(content=(read,)).digest == fingerprint(content=(unread,)).digest


def test_the_template_and_vars_are_parts_not_the_digest() -> None:
    # Same request from another template or vars: same digest, parts that differ.
    plain = fingerprint(template="Draw X", variables={})
    assert plain.digest == fingerprint().digest
    assert plain.parts != fingerprint().parts


def test_parts_keep_literals_by_value_and_the_rest_by_digest() -> None:
    parts = fingerprint(image_input=("https://e.org/a.png",)).parts
    assert (parts["type"], parts["model"], parts["resolution"], parts["aspect_ratio"]) == (
        "pipeline",
        "nano-banana-pro",
        "1K",
        "1:1",
    )
    assert set(parts) == {
        "type",
        "model",
        "resolution",
        "aspect_ratio",
        "template",
        "prompt",
        "image_input",
        "var:method",
        "content_rules",
        "content:a.tex",
    }
    assert parts["content:a.tex"] == ContentPart.of("a.tex", None, "body").digest
    assert "image_input" not in fingerprint().parts


def test_reasons_name_vars_and_additions() -> None:
    before = {"var:method": "1", "content:a.tex": "2", "template": "3"}
    after = {"var:method": "9", "content:b.tex": "2", "template": "3"}
    assert reasons(before, after) == ["var method changed", "content a.tex removed", "content b.tex added"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"resolution": "2K"}, ["resolution 1K -> 2K"]),
        ({"model": "nano-banana"}, ["model nano-banana-pro -> nano-banana"]),
        ({"image_input": ("https://e.org/a.png",)}, ["image_input changed"]),
        ({"content": (ContentPart.of("a.tex", None, "new"),)}, ["content a.tex changed"]),
    ],
)
def test_reasons_for_each_kind_of_change(changes: dict[str, object], expected: list[str]) -> None:
    assert reasons(fingerprint().parts, fingerprint(**changes).parts) == expected


def test_reasons_put_the_template_first_and_literals_after_content() -> None:
    old = fingerprint().parts
    new = fingerprint(
        template="Sketch {{ method }}",
        resolution="4K",
        content=(ContentPart.of("a.tex", None, "new"),),
        variables={"method": "Y"},
    ).parts
    assert reasons(old, new) == [
        "prompt changed",
        "var method changed",
        "content a.tex changed",
        "resolution 1K -> 4K",
    ]


def test_a_prompt_that_changed_for_no_named_reason_still_says_so() -> None:
    # e.g. a var the template does not record; only the rendered prompt differs.
    old = fingerprint().parts
    new = fingerprint(prompt="Draw Z").parts
    assert reasons(old, new) == ["prompt changed"]


def test_an_unset_literal_reads_unset() -> None:
    assert reasons({}, {"model": "nano-banana"}) == ["model unset -> nano-banana"]


# -- content rules and included files ---------------------------------------------------


def test_the_content_rules_version_is_a_part_not_in_the_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    # New rules that leave the text as it was leave the request as it was: never paid again.
    from figbuild import fingerprint as fingerprints

    before = fingerprint()
    assert before.parts["content_rules"] == str(fingerprints.RULES_VERSION)
    monkeypatch.setattr(fingerprints, "RULES_VERSION", fingerprints.RULES_VERSION + 1)
    after = fingerprint()
    assert after.digest == before.digest
    assert reasons(before.parts, after.parts) == ["content rules changed"]


def test_a_figure_without_content_has_no_rules_part() -> None:
    assert "content_rules" not in fingerprint(content=()).parts


def test_under_changed_rules_content_digests_are_not_compared() -> None:
    old = {**fingerprint().parts, "content_rules": "1", "content:a.tex": "0" * 64}
    assert reasons(old, fingerprint().parts) == ["content rules changed"]


def test_a_lock_from_before_the_rules_had_a_version_says_so() -> None:
    old = {key: value for key, value in fingerprint().parts.items() if key != "content_rules"}
    assert reasons(old, fingerprint().parts) == ["content rules changed"]


def test_a_part_read_through_includes_names_the_file_that_changed() -> None:
    def part(method: str) -> ContentPart:
        return replace(
            ContentPart.of("main.tex", "Method", f"\\section{{Method}} {method}"),
            sources=(("main.tex", "1" * 64), ("sections/method.tex", method * 64)),
        )

    before = fingerprint(content=(part("a"),))
    after = fingerprint(content=(part("b"),))
    assert reasons(before.parts, after.parts) == ["content main.tex#Method changed (in sections/method.tex)"]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=10,
    )
)
def test_the_canonical_form_is_json_dumps_with_its_options(value: object) -> None:
    """The encoder made once writes what json.dumps writes with the same options."""
    import json

    from figbuild.fingerprint import _canonical

    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    assert _canonical(value) == expected
