"""Prompt templates: Jinja2 in a sandbox, where an undefined variable is an error."""

from __future__ import annotations

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


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Render ``template`` with ``variables``; raise TemplateProblem on any error."""
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
