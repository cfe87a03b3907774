"""Prompt templates: Jinja2 in a sandbox, where an undefined variable is an error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild.prompt import TemplateProblem, plain, render, variables_used


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


_PIECES = st.sampled_from(
    [
        "a",
        " ",
        "\n",
        "{",
        "}",
        "}}",
        "{{ method }}",
        "{{method}}",
        "{{\tcount\n}}",
        "{{ missing }}",
        "{{ true }}",
        "{{ none }}",
        "{{ flag }}",
        "{{ items }}",
        "{{ method|upper }}",
        "{{- method }}",
        "{% if count %}x{% endif %}",
        "{# note #}",
        "{{ method.x }}",
        "\r\n",
        "é",
    ]
)
_VARS = {"method": "Flow{{Net}}", "count": 3, "flag": True, "items": [1, 2], "empty": ""}


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_plain_templates_render_as_jinja2_renders_them(template: str) -> None:
    import jinja2.sandbox

    simple = plain(template, _VARS)
    if simple is None:
        return  # not plain: Jinja2 renders it
    environment = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    assert simple[0] == environment.from_string(template).render(**_VARS), template
    assert simple[1] == variables_used(template)


def test_plain_takes_the_usual_prompt_and_leaves_the_rest_to_jinja2() -> None:
    assert plain("Figure 3 of {{ method }}: stage {{count}}.\n", _VARS) == (
        "Figure 3 of Flow{{Net}}: stage 3.\n",
        frozenset({"method", "count"}),
    )
    for template in ("{{ missing }}", "{{ flag }}", "{{ true }}", "{{ method|upper }}", "{{{ method }}}"):
        assert plain(template, _VARS) is None, template
