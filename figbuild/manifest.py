"""Load ``figures.yaml`` and validate it into frozen dataclasses.

Validation is the JSON Schema shipped in ``figbuild/schemas`` (the same file
editors use) plus what a schema cannot say: duplicate keys, secrets, paths that
leave the paper root. Every problem is collected, so a user fixes them in one go.
Reading content and rendering prompts is :mod:`figbuild.resolve`'s job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from figbuild import schemacheck
from figbuild.cache import Cache, enabled, key_of
from figbuild.errors import ManifestError, Problem, UsageError
from figbuild.paths import RootGuard, check_relative, joined
from figbuild.records import frozen
from figbuild.schemacheck import valid

MANIFEST_NAME = "figures.yaml"
SCHEMA_PATH = schemacheck.SCHEMA_PATH

OPTION_DEFAULTS: Mapping[str, Any] = {
    "mode": "pipeline",
    "model": "nano-banana-pro",
    "resolution": "1K",
    "aspect_ratio": "1:1",
    "image_input": [],
    "frozen": False,
    "keep_figures": False,
    "candidates": 1,
}

# Whole key names only: `max_tokens` or `secret_sauce` in vars are fine.
_SECRET_KEY = re.compile(
    r"(paperbanana[_-]?)?(api[_-]?key|secret([_-]?key)?|(access[_-]?)?token|password|authorization|bearer)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_KEY_HINT = "remove it and set the PAPERBANANA_API_KEY environment variable instead"


@frozen
class ContentSource:
    """One entry of a figure's ``content``: a path or glob, optionally one section."""

    pattern: str
    section: str | None = None
    line: int | None = None
    anchor: str | None = None  # `label:`: the heading a LaTeX \label (or Markdown #id) names
    keep_figures: bool = False

    @property
    def label(self) -> str:
        if self.anchor:
            return f"{self.pattern}#label:{self.anchor}"
        return f"{self.pattern}#{self.section}" if self.section else self.pattern


@frozen
class Figure:
    id: str
    prompt: str  # the template source
    mode: str
    model: str
    resolution: str
    aspect_ratio: str
    image_input: tuple[str, ...]
    content: tuple[ContentSource, ...]
    output: str  # posix path relative to the paper root
    frozen: bool
    line: int | None = None
    prompt_line: int | None = None
    keep_figures: bool = False
    #: Images generated per request (``candidates: N``).
    candidates: int = 1


@frozen
class Disclosure:
    """``disclosure:``: the statement's file (kept current by sync) and its template."""

    output: str | None = None
    template: str | None = None
    line: int | None = None


@frozen
class Manifest:
    path: Path
    root: Path
    output_dir: str
    vars: Mapping[str, Any]
    figures: tuple[Figure, ...]
    disclosure: Disclosure | None = None
    #: The team's remote store (``remote:``), checked by the schema: no credentials.
    remote: str | None = None

    def figure(self, figure_id: str) -> Figure:
        for figure in self.figures:
            if figure.id == figure_id:
                return figure
        raise KeyError(figure_id)

    def select(self, ids: tuple[str, ...]) -> tuple[Figure, ...]:
        """The named figures in manifest order (all when ``ids`` is empty)."""
        if not ids:
            return self.figures
        known = {figure.id for figure in self.figures}
        unknown = [figure_id for figure_id in ids if figure_id not in known]
        if unknown:
            raise UsageError(
                f"no figure named {', '.join(map(repr, unknown))} in {self.path.name}",
                hint=f"known figures: {', '.join(sorted(known))}",
            )
        wanted = set(ids)
        return tuple(figure for figure in self.figures if figure.id in wanted)


def find(directory: Path, *, search_parents: bool = False) -> Path:
    """The manifest in ``directory`` or, with ``search_parents``, in the nearest directory
    above it that has one (as git finds its repository); else a UsageError saying how to
    make one."""
    path = directory / MANIFEST_NAME
    try:
        found = path.is_file()
    except OSError as exc:
        raise UsageError(f"cannot read {directory}: {exc.strerror}", hint="check its permissions") from None
    if found:
        return path
    if search_parents:
        for parent in directory.resolve().parents:
            if (parent / MANIFEST_NAME).is_file():
                return parent / MANIFEST_NAME
    where = f"{directory} or any directory above it" if search_parents else str(directory)
    raise UsageError(
        f"no {MANIFEST_NAME} in {where}",
        hint="run `figbuild init` to write a starter manifest, or pass -C DIR",
    )


def load(path: Path, cache: Cache | None = None) -> Manifest:
    """Parse and validate the manifest at ``path``; raise ManifestError listing every problem.

    With a ``cache``, a text that passed the schema before is not checked again.
    """
    manifest, problems = check(path, cache)
    if problems or manifest is None:
        raise ManifestError(problems)
    return manifest


def check(path: Path, cache: Cache | None = None) -> tuple[Manifest | None, list[Problem]]:
    """Every problem in the manifest at ``path``, and the manifest of the figures that passed.

    The manifest is None when a problem outside any figure (bad YAML, a top-level
    key, vars, defaults) leaves nothing to build on.
    """
    from figbuild import yamlsource

    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(name, f"not UTF-8 text ({exc.reason})", hint="save the file as UTF-8")]
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    text_key = key_of(text, yamlsource.READING)
    cached = cache.get("manifest", text_key) if cache is not None else None
    if cached is not None:
        # This exact text passed every check before: skip YAML and the schema.
        doc = yamlsource.from_json(cached)
        manifest = _build(path, doc, skip=set())
        return manifest, list(_path_problems(manifest, doc))
    try:
        doc = yamlsource.load(text)
    except Exception as exc:  # yaml.YAMLError, and ValueError for odd scalars
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        hint = getattr(exc, "hint", None) or "check indentation and quoting"
        return None, [Problem(name, f"invalid YAML: {reason}", line=line, hint=hint)]
    problems: list[Problem] = list(_structure_problems(name, doc))
    if doc.data is None:
        problems.append(Problem(name, "the file is empty", hint="run `figbuild init` for a starter"))
    else:
        # Also after a duplicate or a secret: a figure whose shape is wrong must be
        # known as a problem (and skipped below) whatever else is wrong.
        seen = {(problem.line, problem.figure, problem.key) for problem in problems}
        problems.extend(p for p in _schema_problems(name, doc) if (p.line, p.figure, p.key) not in seen)
    if any(problem.figure is None for problem in problems):
        return None, problems
    if cache is not None and not problems:
        cache.replace("manifest", {text_key: yamlsource.to_json(doc)})
    manifest = _build(path, doc, skip={problem.figure for problem in problems if problem.figure})
    problems.extend(_path_problems(manifest, doc))
    return manifest, problems


def _locate(path: tuple[str | int, ...]) -> tuple[str | None, str | None]:
    """(figure id, key) for a path into the document."""
    figure = str(path[1]) if len(path) >= 2 and path[0] == "figures" else None
    keys = [str(part) for part in path if isinstance(part, str)]
    key_parts = keys[2:] if figure is not None else keys
    return figure, ".".join(key_parts) or None


def _structure_problems(name: str, doc: Any) -> Iterator[Problem]:
    for parent, key, line, first in doc.duplicates:
        if parent == ("figures",):
            yield Problem(
                name,
                f"duplicate figure id (first defined on line {first})",
                line=line,
                figure=key,
                hint="figure ids must be unique; rename one",
            )
        else:
            figure, where = _locate((*parent, key))
            yield Problem(
                name,
                f"duplicate key (first on line {first})",
                line=line,
                figure=figure,
                key=where,
            )
    if _may_hold_secrets(doc.data):
        yield from _secret_problems(name, doc, doc.data, (), set())


def _may_hold_secrets(data: Any) -> bool:
    """Whether any key or text in ``data`` looks like a credential: one walk without
    paths or problems, so that the common manifest, which has none, costs little."""
    stack, seen, keys = [data], set(), set()
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            if _SECRET_VALUE.search(value):
                return True
        elif kind is dict or kind is list:
            if id(value) in seen:
                continue
            seen.add(id(value))
            if kind is dict:
                for key in value:
                    if isinstance(key, str) and key not in keys:
                        if _SECRET_KEY.fullmatch(key):
                            return True
                        keys.add(key)
                stack.extend(value.values())
            else:
                stack.extend(value)
        elif isinstance(value, (dict, list, str)):
            return True  # a subclass: let the full walk decide
    return False


def _secret_problems(
    name: str, doc: Any, value: Any, path: tuple[str | int, ...], seen: set[int]
) -> Iterator[Problem]:
    if isinstance(value, (dict, list)):
        # A YAML alias shares one object many times over: look at each once.
        if id(value) in seen:
            return
        seen.add(id(value))
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = (*path, key)
            if isinstance(key, str) and _SECRET_KEY.fullmatch(key):
                figure, where = _locate(child_path)
                yield Problem(
                    name,
                    "looks like a credential; figures.yaml is committed with the paper",
                    line=doc.line(child_path),
                    figure=figure,
                    key=where,
                    hint=_KEY_HINT,
                )
            else:
                yield from _secret_problems(name, doc, child, child_path, seen)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _secret_problems(name, doc, child, (*path, index), seen)
    elif isinstance(value, str) and _SECRET_VALUE.search(value):
        figure, where = _locate(path)
        yield Problem(
            name,
            "contains what looks like an API key (sk-...)",
            line=doc.line(path),
            figure=figure,
            key=where,
            hint=_KEY_HINT,
        )


_validator: Any = None


def _schema_validator() -> Any:
    global _validator
    if _validator is None:
        import jsonschema

        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        _validator = jsonschema.Draft202012Validator(schema)
    return _validator


def _schema_problems(name: str, doc: Any) -> Iterator[Problem]:
    if enabled() and valid(doc.data):
        return  # nothing to explain: jsonschema would find no error (FIGBUILD_NO_CACHE: ask it)
    errors = sorted(_schema_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        yield from _explain(name, doc, error)


def _explain(name: str, doc: Any, error: Any) -> Iterator[Problem]:
    """Turn one jsonschema error into problems a person can act on."""
    path = tuple(error.absolute_path)
    validator = error.validator
    if validator == "oneOf" and error.context:
        # Explain the branch the value was meant for: one that failed on something
        # other than the value's type, and got deepest into it.
        branches = [e for e in error.context if not _wrong_type(e)] or list(error.context)
        yield from _explain(name, doc, max(branches, key=lambda e: len(e.absolute_path)))
        return
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed), key=str):  # YAML keys need not be text
            figure, where = _locate((*path, key))
            yield Problem(
                name,
                "unknown key",
                line=doc.line((*path, key)),
                figure=figure,
                key=where,
                hint=f"allowed here: {', '.join(allowed)}",
            )
        return
    if validator == "required":
        figure, where = _locate(path)
        for key in error.validator_value:
            if key not in error.instance:
                _, missing = _locate((*path, key))
                yield Problem(
                    name, "is required but missing", line=doc.line(path), figure=figure, key=missing
                )
        return
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad name as a failure of the name itself, at the mapping.
        bad = str(error.instance)
        if path == ("figures",):
            yield Problem(
                name,
                "invalid figure id: use letters, digits, '-' and '_' only",
                line=doc.line((*path, bad)),
                figure=bad,
                key="figures",
            )
        else:
            yield Problem(
                name,
                f"invalid name {bad!r}: use letters, digits and '_', not starting with a digit",
                line=doc.line((*path, bad)),
                key=_locate(path)[1],
            )
        return
    figure, where = _locate(path)
    yield Problem(name, _message(error), line=doc.line(path), figure=figure, key=where, hint=_hint(error))


def _wrong_type(error: Any) -> bool:
    """Whether ``error`` only says the value is of another type than its schema branch."""
    if error.validator in ("oneOf", "anyOf"):
        return all(_wrong_type(e) for e in error.context)
    return bool(error.validator == "type")


def _message(error: Any) -> str:
    validator, expected, instance = error.validator, error.validator_value, error.instance
    shown = _show(instance)
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom and validator in ("not", "pattern"):
        # The schema's own words (editors show them too); a path names itself.
        return f"{shown} {custom}" if isinstance(instance, str) and custom[0].islower() else custom
    if validator == "enum":
        return f"{shown} is not one of: {', '.join(map(str, expected))}"
    if validator == "const":
        return f"{shown} is not supported; use {expected!r}"
    if validator == "type":
        return f"{shown} is not of type {expected}"
    if validator == "not" and expected.get("required") == ["section", "label"]:
        return "has both section and label; give one of them"
    if validator == "maxItems":
        return f"has {len(instance)} items; at most {expected} are allowed"
    if validator in ("minItems", "minProperties", "minLength"):
        return "must not be empty"
    if validator == "pattern":
        if expected == "^https://":
            return f"{shown} is not an https:// URL; the API only accepts https image URLs"
        if "[Pp][Nn][Gg]" in expected:
            return f"{shown} must end in .png, .jpg, .jpeg or .pdf"
        return f"{shown} does not match {expected}"
    return str(error.message)


#: Plain words YAML 1.1 read as booleans; YAML 1.2 (and editors) read them as text.
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


def _hint(error: Any) -> str | None:
    """What to do about a value that YAML 1.1 habits put there."""
    instance = error.instance
    if error.validator == "type" and isinstance(instance, str) and instance.lower() in _YAML11_BOOLS:
        return "use true or false: YAML 1.2, as editors read it, takes yes/no/on/off as text"
    ratios = error.validator == "enum" and any(":" in str(v) for v in error.validator_value)
    if ratios and isinstance(instance, (int, float)) and not isinstance(instance, bool):
        return 'write the ratio as text, e.g. "16:9"'
    return None


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(path: Path, doc: Any, skip: set[str]) -> Manifest:
    data = doc.data
    defaults = {**OPTION_DEFAULTS, **data.get("defaults", {})}
    output_dir = str(data.get("output_dir", "figures"))
    figures = []
    for figure_id, spec in data["figures"].items():
        if str(figure_id) in skip:
            continue
        options = {key: spec.get(key, defaults[key]) for key in OPTION_DEFAULTS}
        figures.append(
            Figure(
                id=str(figure_id),
                prompt=spec["prompt"],
                mode=options["mode"],
                model=options["model"],
                resolution=options["resolution"],
                aspect_ratio=options["aspect_ratio"],
                image_input=tuple(options["image_input"]),
                content=tuple(
                    _content_sources(
                        spec.get("content"),
                        doc,
                        ("figures", figure_id, "content"),
                        keep_figures=bool(options["keep_figures"]),
                    )
                ),
                output=_clean(spec.get("output") or f"{output_dir}/{figure_id}.png"),
                frozen=bool(options["frozen"]),
                line=doc.line(("figures", figure_id)),
                prompt_line=doc.line(("figures", figure_id, "prompt")),
                keep_figures=bool(options["keep_figures"]),
                candidates=int(options["candidates"]),
            )
        )
    return Manifest(
        path=path,
        root=path.parent,
        output_dir=output_dir,
        vars=data.get("vars", {}),
        figures=tuple(figures),
        remote=data.get("remote"),
        disclosure=_disclosure(data.get("disclosure"), doc),
    )


def _disclosure(spec: Any, doc: Any) -> Disclosure | None:
    if not isinstance(spec, dict):
        return None
    output, template = spec.get("output"), spec.get("template")
    return Disclosure(
        output=_clean(output) if output else None,
        template=_clean(template) if template else None,
        line=doc.line(("disclosure",)),
    )


def _clean(path: str) -> str:
    """``path`` without `.` components and doubled slashes (fast when it has none).

    Not `..`: through a symlinked folder, `a/../b` is not `b`.
    """
    if "//" in path or "./" in path or path.endswith(("/", "/.")):
        return str(PurePosixPath(path))
    return path


def _content_sources(
    value: Any, doc: Any, path: tuple[str | int, ...], *, keep_figures: bool
) -> Iterator[ContentSource]:
    if value is None:
        return
    entries = value if isinstance(value, list) else [value]
    for index, entry in enumerate(entries):
        where = (*path, index) if isinstance(value, list) else path
        if isinstance(entry, str):
            yield ContentSource(entry, None, doc.line(where), keep_figures=keep_figures)
        else:
            yield ContentSource(
                entry["file"],
                entry.get("section"),
                doc.line(where),
                anchor=entry.get("label"),
                keep_figures=keep_figures,
            )


#: What a disclosure file may be: the formats `figbuild disclose` writes for a paper.
DISCLOSURE_SUFFIXES = {".tex": "latex", ".md": "markdown"}


def _disclosure_problems(manifest: Manifest, doc: Any, guard: RootGuard) -> Iterator[Problem]:
    disclosure = manifest.disclosure
    if disclosure is None:
        return
    name = manifest.path.name
    for key in ("output", "template"):
        value = getattr(disclosure, key)
        if value is None:
            continue
        line = doc.line(("disclosure", key)) or disclosure.line
        problem = check_relative(guard, value)
        if problem is None and key == "output" and Path(value).suffix.lower() not in DISCLOSURE_SUFFIXES:
            problem = f"{value!r} is not a .tex or .md file"
        if problem is None and key == "template" and not (manifest.root / value).is_file():
            problem = f"the template {value} does not exist"
        if problem is not None:
            yield Problem(name, problem, line=line, key=f"disclosure.{key}")
    outputs = {figure.output for figure in manifest.figures}
    if disclosure.output in outputs:
        yield Problem(name, f"{disclosure.output} is also a figure's output", line=disclosure.line)
    if disclosure.output is not None:
        from fnmatch import fnmatchcase

        for figure in manifest.figures:
            for source in figure.content:
                if fnmatchcase(disclosure.output, source.pattern):
                    yield Problem(
                        name,
                        f"{disclosure.output} would be read as content by figure '{figure.id}' "
                        f"({source.pattern}): the statement would change the figures it describes",
                        line=disclosure.line,
                        key="disclosure.output",
                        hint="put the disclosure file elsewhere, or narrow the content pattern",
                    )


def _path_problems(manifest: Manifest, doc: Any) -> Iterator[Problem]:
    name = manifest.path.name
    guard = RootGuard(manifest.root)
    yield from _disclosure_problems(manifest, doc, guard)
    problem = check_relative(guard, manifest.output_dir)
    if problem:
        yield Problem(name, problem, line=doc.line(("output_dir",)), key="output_dir")
    # Keyed by the real file, so that `figures/sub/../a.png`, `./figures/a.png` and a
    # symlinked directory are seen to be the same file as `figures/a.png`.
    outputs: dict[str, Figure] = {}
    for figure in manifest.figures:
        key = "output" if ("figures", figure.id, "output") in doc.lines else "output_dir"
        line = doc.line(("figures", figure.id, "output")) or figure.line
        problem = check_relative(guard, figure.output)
        if problem:
            yield Problem(name, problem, line=line, figure=figure.id, key=key)
        first = outputs.setdefault(guard.real(joined(manifest.root, figure.output)), figure)
        if first is not figure:
            yield Problem(
                name,
                f"{figure.output} is the same file as {first.output}, the output of figure '{first.id}'",
                line=line,
                figure=figure.id,
                key=key,
                hint="give each figure its own output",
            )
        if figure.mode == "standard" and figure.content:
            yield Problem(
                name,
                "content is only sent in pipeline mode",
                line=doc.line(("figures", figure.id, "content")),
                figure=figure.id,
                key="content",
                hint="remove content, or use mode: pipeline",
            )
