"""Prompt templates: Jinja2 in a sandbox, where an undefined variable is an error.

Most prompts are text with a few ``{{ name }}`` substitutions of text or whole-number
vars: those are rendered here without Jinja2, to exactly what Jinja2 renders (a
property test compares the two), so that a paper's first run (a fresh clone, a CI
job) neither imports nor compiles a template per figure. Anything else goes to Jinja2.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: a warm `figbuild status` never loads Jinja2
    import jinja2.sandbox


class TemplateProblem(Exception):
    """A prompt template that does not parse or render; the message says where and why."""


@lru_cache(maxsize=1)
def _environment() -> jinja2.sandbox.SandboxedEnvironment:
    import jinja2
    import jinja2.sandbox

    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


#: A substitution of one variable, as Jinja2's lexer reads ``{{ name }}``.
_SUBSTITUTION = re.compile(r"\{\{[ \t\n]*([A-Za-z_][A-Za-z0-9_]*)[ \t\n]*\}\}")
#: Names Jinja2 reads as literals or operators, not variables.
_NOT_VARIABLES = frozenset({"true", "false", "none", *keyword.kwlist})


def plain(template: str, variables: Mapping[str, Any]) -> tuple[str, frozenset[str]] | None:
    """``template`` rendered and the vars it uses, when it is plain text with ``{{ name }}``
    substitutions of defined text or whole-number vars; None for anything else (a
    statement, a comment, a filter, an expression, whitespace control, an undefined
    or other var, a carriage return, which Jinja2 normalises)."""
    if "{%" in template or "{#" in template or "\r" in template:
        return None
    pieces = _SUBSTITUTION.split(template)
    texts, names = pieces[0::2], pieces[1::2]
    if any("{{" in text for text in texts) or any(text.endswith("{") for text in texts[:-1]):
        return None
    out = [texts[0]]
    for name, text in zip(names, texts[1:], strict=True):
        value = variables.get(name)
        if name in _NOT_VARIABLES or type(value) not in (str, int):
            return None
        out += [str(value), text]
    return "".join(out), frozenset(names)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Render ``template`` with ``variables``; raise TemplateProblem on any error."""
    simple = plain(template, variables)
    if simple is not None:
        return simple[0]
    import jinja2
    import jinja2.exceptions

    try:
        return _environment().from_string(template).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(f"{exc.message}; define it under vars") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateProblem(f"not allowed in a prompt template: {exc}") from None
    except Exception as exc:  # any other error raised while rendering user code
        raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None


def variables_used(template: str) -> frozenset[str]:
    """The top-level variables ``template`` reads (empty if it does not parse)."""
    import jinja2
    import jinja2.meta

    try:
        return frozenset(jinja2.meta.find_undeclared_variables(_environment().parse(template)))
    except jinja2.TemplateSyntaxError:
        return frozenset()
