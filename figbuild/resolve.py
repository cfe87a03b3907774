"""From a validated manifest to the exact request of every figure.

This is where prompts are rendered and content is read, so it is also where the
problems that need the file system or the template engine are found: every one
is collected and reported together, before anything is sent or written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from figbuild import prompt as prompts
from figbuild.cache import Cache, key_of
from figbuild.content import ContentError, ContentPart, ContentReader
from figbuild.digests import StatCache
from figbuild.errors import ManifestError, Problem
from figbuild.fingerprint import Fingerprint, compute
from figbuild.manifest import Figure, Manifest
from figbuild.records import frozen
from figbuild.request import FREE, Request, Terms


@frozen
class Resolved:
    """A figure with the request it stands for and that request's fingerprint."""

    figure: Figure
    request: Request
    fingerprint: Fingerprint
    #: What the request costs under the terms it was resolved for.
    cost: int = 0


def resolve(
    manifest: Manifest,
    figures: Iterable[Figure] | None = None,
    cache: Cache | None = None,
    terms: Terms = FREE,
) -> list[Resolved]:
    """Resolve ``figures`` (default: all) or raise ManifestError with every problem.

    ``terms`` are the target API's: its limits are checked here, before anything is
    sent, and its prices give each figure's cost."""
    resolved, broken = resolve_each(manifest, figures, cache, terms)
    if broken:
        raise ManifestError([problem for problems in broken.values() for problem in problems])
    return resolved


def resolve_each(
    manifest: Manifest,
    figures: Iterable[Figure] | None = None,
    cache: Cache | None = None,
    terms: Terms = FREE,
    *,
    save: bool = True,
) -> tuple[list[Resolved], dict[str, list[Problem]]]:
    """Every figure that resolves, and the problems of each one that does not (by id):
    a figure whose content cannot be read does not hide the others. Without ``save``,
    what was learnt stays in ``cache`` for the caller's own save (one write a run)."""
    cache = cache or Cache(None)
    stats = StatCache(cache, "content")
    reader = ContentReader(manifest.root, stats)
    renderer = _Renderer(manifest.vars, cache)
    resolved: list[Resolved] = []
    broken: dict[str, list[Problem]] = {}
    for figure in manifest.figures if figures is None else figures:
        problems = _problems_of(manifest, figure, reader, renderer, terms, resolved)
        if problems:
            broken[figure.id] = problems
    if not broken:
        keep = {"prompts": renderer.keys, "content": stats.keys} if figures is None else {}
        if save:
            cache.save(keep)
        else:
            cache.prune(keep)
    return resolved, broken


def warnings(resolved: Iterable[Resolved]) -> list[str]:
    """What validation warns about: content that gives the API little or no paper text."""
    return [f"figure '{problem.figure}': {problem.message}" for problem in warning_problems(resolved)]


def warning_problems(resolved: Iterable[Resolved], manifest_name: str = "figures.yaml") -> list[Problem]:
    """:func:`warnings`, each located on its figure's entry in the manifest."""
    out: list[Problem] = []
    for item in resolved:
        figure, request = item.figure, item.request
        messages = [warning for part in request.content for warning in part.warnings]
        if figure.content and request.content_length == 0:
            messages.append(
                "its content is empty once comments, figures and notes are dropped; "
                "the API gets no paper text"
            )
        out.extend(
            Problem(manifest_name, message, line=figure.line, figure=figure.id, key="content")
            for message in messages
        )
    return out


class _Renderer:
    """Renders prompts, remembering results by template and vars across runs."""

    def __init__(self, variables: Mapping[str, Any], cache: Cache) -> None:
        self.variables = variables
        self.cache = cache
        self._vars_key = json.dumps(variables, sort_keys=True, default=str)
        #: cache keys of every prompt rendered in this run
        self.keys: set[str] = set()

    def render(self, template: str) -> tuple[str, frozenset[str]]:
        """The rendered prompt and the vars it uses; raises TemplateProblem."""
        key = key_of(template, self._vars_key)
        self.keys.add(key)
        hit = self.cache.get("prompts", key)
        if hit is not None:
            return hit[0], frozenset(hit[1])
        simple = prompts.plain(template, self.variables)
        if simple is not None:
            text, used = simple
        else:
            text, used = prompts.render(template, self.variables), prompts.variables_used(template)
        self.cache.put("prompts", key, [text, sorted(used)])
        return text, used


def _problems_of(
    manifest: Manifest,
    figure: Figure,
    reader: ContentReader,
    renderer: _Renderer,
    terms: Terms,
    out: list[Resolved],
) -> list[Problem]:
    name = manifest.path.name

    def problem(message: str, key: str, line: int | None = None, hint: str | None = None) -> Problem:
        return Problem(name, message, line=line or figure.line, figure=figure.id, key=key, hint=hint)

    problems: list[Problem] = []
    used: frozenset[str] = frozenset()
    try:
        text, used = renderer.render(figure.prompt)
    except prompts.TemplateProblem as exc:
        problems.append(problem(str(exc), "prompt", figure.prompt_line))
        text = ""
    if terms.prompt_limit is not None and len(text) > terms.prompt_limit:
        problems.append(
            problem(
                f"renders to {len(text):,} characters; the API allows {terms.prompt_limit:,}",
                "prompt",
                figure.prompt_line,
            )
        )
    parts: list[ContentPart] = []
    for source in figure.content:
        try:
            parts.extend(reader.parts(source))
        except ContentError as exc:
            problems.append(problem(str(exc), "content", source.line, exc.hint))
    limit = terms.image_input_limit
    if limit is not None and len(figure.image_input) > limit:  # also in the schema; kept for `defaults`
        problems.append(problem(f"at most {limit} URLs are allowed", "image_input"))
    request = Request(
        type=figure.mode,
        prompt=text,
        model=figure.model,
        resolution=figure.resolution,
        aspect_ratio=figure.aspect_ratio,
        image_input=figure.image_input,
        content=tuple(parts),
    )
    if terms.content_limit is not None and request.content_length > terms.content_limit:
        problems.append(
            problem(
                f"is {request.content_length:,} characters; the API allows {terms.content_limit:,}",
                "content",
                figure.content[0].line if figure.content else None,
                hint="pick a section instead of whole files",
            )
        )
    if not problems:
        variables = {key: value for key, value in manifest.vars.items() if key in used}
        out.append(Resolved(figure, request, compute(request, figure.prompt, variables), terms.cost(request)))
    return problems
