"""The statement in words: LaTeX, Markdown or JSON, by default or through a venue's template.

The default wording is written to meet what JOSS, ACM, IEEE and Elsevier ask of an
AI-usage disclosure (docs/disclosure.md says which item each asks for): the tool and
model (with its version, as the model name carries it), where (each figure by id and
file), how (mode, resolution, and whether it was picked, restored or edited by hand),
when, and that the authors reviewed the figures and take responsibility for them.
A template (``disclosure: {template: …}``) is rendered in the prompts' Jinja2 sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from figbuild.disclosure.model import Item, Statement
from figbuild.errors import FigbuildError

FORMATS = ("latex", "markdown", "json")


class DisclosureError(FigbuildError):
    """The statement cannot be written (a template that does not render, a bad option)."""


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_RE = re.compile("|".join(re.escape(char) for char in _LATEX))
_MARKDOWN_RE = re.compile(r"([\\`*_\[\]#|<>~])")


def latex_escape(text: object) -> str:
    """``text`` safe in LaTeX running text (an id with ``_``, a path, a model name)."""
    return _LATEX_RE.sub(lambda match: _LATEX[match.group(0)], str(text))


def markdown_escape(text: object) -> str:
    """``text`` safe in Markdown running text."""
    return _MARKDOWN_RE.sub(r"\\\1", str(text))


def escaper(fmt: str) -> Callable[[object], str]:
    return {"latex": latex_escape, "markdown": markdown_escape}.get(fmt, str)


def render(statement: Statement, fmt: str, template: str | None = None) -> str:
    """The statement's text in ``fmt``; through ``template`` (Jinja2 source) when given."""
    if fmt == "json":
        return json.dumps(statement.as_dict(), indent=2, sort_keys=True) + "\n"
    default = _latex(statement) if fmt == "latex" else _markdown(statement)
    if template is None:
        return default
    from figbuild.prompt import TemplateProblem
    from figbuild.prompt import render as render_template

    try:
        text = render_template(template, variables(statement, fmt, default))
    except TemplateProblem as exc:
        raise DisclosureError(
            f"the disclosure template does not render: {exc}",
            hint="its variables: figures, not_generated, models, service, service_url, "
            "figbuild_version, format, esc, default (docs/disclosure.md)",
        ) from None
    return text if text.endswith("\n") else text + "\n"


def variables(statement: Statement, fmt: str, default: str) -> dict[str, Any]:
    """What a template sees: plain data, an escaper for the output format, the default text."""
    data = statement.as_dict()
    return {
        "figures": data["figures"],
        "not_generated": data["not_generated"],
        "models": data["models"],
        "service": statement.service,
        "service_url": statement.service_url,
        "figbuild_version": statement.version,
        "format": fmt,
        "esc": escaper(fmt),
        "default": default,
    }


def _count(n: int) -> str:
    return f"{n} figure{'s' if n != 1 else ''}"


def _intro(statement: Statement, code: Callable[[str], str], esc: Callable[[object], str]) -> str:
    n = len(statement.figures)
    if n == 0:
        return (
            "No figure in this paper was generated with generative AI through figbuild "
            f"(version {esc(statement.version)})."
        )
    models = ", ".join(code(model) for model in statement.models) or "an unrecorded model"
    verb = "was" if n == 1 else "were"
    excerpts = (
        " and excerpts of the paper's own text (pipeline mode)"
        if any(item.mode == "pipeline" for item in statement.figures)
        else ""
    )
    return (
        f"{_count(n)} in this paper {verb} generated with generative AI: the image model "
        f"{models} of the {esc(statement.service)} ({esc(_domain(statement.service_url))}), from prompts "
        f"written by the authors{excerpts}. "
        f"The requests were made and recorded with figbuild {esc(statement.version)}, "
        "which also wrote this statement from its records."
    )


def _domain(url: str) -> str:
    """A URL as the statement names it: its host (no link, so any page may show it)."""
    return url.split("://", 1)[-1].rstrip("/")


def _line(item: Item, code: Callable[[str], str], esc: Callable[[object], str]) -> str:
    facts = [f"model {code(item.model)}" if item.model else "model not recorded", f"{esc(item.mode)} mode"]
    if item.resolution:
        facts.append(f"resolution {esc(item.resolution)}")
    when = f", on {esc(item.when[:10])}" if item.when else ""
    task = f" (task {code(item.task_id)})" if item.task_id else ""
    return (
        f"Figure {code(item.id)} ({code(item.output)}): {esc(item.how_text)}{when}{task}; {', '.join(facts)}."
    )


_REVIEWED = (
    "The authors reviewed every figure listed here, edited it where this statement says "
    "so, and take full responsibility for the content of this work, its figures included. "
    "No AI system is an author of this work."
)


def _reviewed(statement: Statement) -> str:
    if statement.figures:
        return _REVIEWED
    return "The authors take full responsibility for the content of this work, its figures included."


def _latex(statement: Statement) -> str:
    def code(text: str) -> str:
        return r"\texttt{" + latex_escape(text) + "}"

    lines = [r"\textbf{Use of generative AI.}", _intro(statement, code, latex_escape)]
    if statement.figures:
        lines.append(r"\begin{itemize}")
        lines.extend(r"\item " + _line(item, code, latex_escape) for item in statement.figures)
        lines.append(r"\end{itemize}")
    lines.append(_reviewed(statement))
    return "\n".join(lines) + "\n"


def _markdown(statement: Statement) -> str:
    def code(text: str) -> str:
        return f"`{text}`" if "`" not in text else markdown_escape(text)

    lines = ["**Use of generative AI.** " + _intro(statement, code, markdown_escape), ""]
    if statement.figures:
        lines.extend("- " + _line(item, code, markdown_escape) for item in statement.figures)
        lines.append("")
    lines.append(_reviewed(statement))
    return "\n".join(lines) + "\n"
