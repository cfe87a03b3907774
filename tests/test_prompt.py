"""Prompt templates: Jinja2 in a sandbox, where an undefined variable is an error."""

from __future__ import annotations

import pytest

from figbuild.prompt import TemplateProblem, render, variables_used


def test_render_fills_vars_and_keeps_the_text_as_written() -> None:
    assert (
        render("Architecture of {{ method }} & <b>", {"method": "FlowNet"}) == "Architecture of FlowNet & <b>"
    )
    assert render("ends in a newline\n", {}) == "ends in a newline\n"
    assert render("{% for s in steps %}{{ s }};{% endfor %}", {"steps": [1, 2]}) == "1;2;"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Draw {{ nope }}", "'nope' is undefined; define it under vars"),
        ("Draw {{ method.missing.deeper }}", "define it under vars"),
        ("Draw {{ method ", "template syntax error on line 1"),
        ("line one\n{% if %}", "template syntax error on line 2"),
        ("{{ ''.__class__.__mro__ }}", "not allowed in a prompt template"),
        ("{{ 1 / 0 }}", "template error: ZeroDivisionError"),
    ],
)
def test_render_problems_say_what_and_where(template: str, message: str) -> None:
    with pytest.raises(TemplateProblem) as raised:
        render(template, {"method": "X"})
    assert message in str(raised.value)


def test_variables_used_are_the_top_level_names_read() -> None:
    assert variables_used("{{ a }} and {{ b.c }} {% for x in d %}{{ x }}{% endfor %}") == {"a", "b", "d"}
    assert variables_used("no variables") == frozenset()
    assert variables_used("{{ broken") == frozenset()
