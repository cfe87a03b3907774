"""Whether a manifest passes the shipped JSON Schema, answered without jsonschema.

Importing jsonschema costs tens of milliseconds and validating with it about a
millisecond per figure: most of a fresh clone's first ``status``. Almost every
manifest is valid, and a valid one needs no error messages, so this compiles the
schema once into plain Python predicates that say only *whether* a document is
valid. Only when one says "no" (or cannot tell) does :mod:`figbuild.manifest` ask
jsonschema, whose errors it explains: the problems a user sees never come from here.

The predicates follow JSON Schema 2020-12 as jsonschema implements it, for the
keywords the schema uses. Where Python's types could make the two disagree (a float
where an integer is wanted, a bool against a number, a value YAML cannot produce)
a predicate raises :class:`Unsure` instead of answering, and a keyword it does not
know makes :func:`compile_schema` refuse the whole schema: either way the answer
comes from jsonschema. ``tests/test_schemacheck.py`` compares the two on generated
documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Check = Callable[[Any], bool]

SCHEMA_PATH = Path(__file__).parent / "schemas" / "figures.schema.json"

#: Keywords that never make a document invalid (jsonschema ignores ``errorMessage`` too).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples", "errorMessage"}
)
#: The types a parsed manifest can hold; anything else is left to jsonschema.
_PLAIN = (str, int, float, bool, type(None), dict, list)


class Unsure(Exception):
    """The predicates cannot answer for this value exactly as jsonschema would."""


class Unsupported(Exception):
    """The schema uses a keyword (or a form of one) the predicates do not implement."""


def valid(data: Any) -> bool | None:
    """Whether ``data`` passes the shipped schema; None when only jsonschema can tell."""
    check = _shipped()
    if check is None:
        return None
    try:
        return check(data)
    except (Unsure, RecursionError):
        return None


_COMPILED: list[Check | None] = []


def _shipped() -> Check | None:
    if not _COMPILED:
        try:
            _COMPILED.append(compile_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))))
        except Unsupported:
            _COMPILED.append(None)
    return _COMPILED[0]


def compile_schema(root: Mapping[str, Any]) -> Check:
    """``root`` as one predicate; Unsupported if it uses what this module does not know."""
    defs: dict[str, Check] = {}
    definitions = root.get("$defs", {})

    def ref(target: str) -> Check:
        prefix = "#/$defs/"
        if not target.startswith(prefix) or target[len(prefix) :] not in definitions:
            raise Unsupported(f"$ref {target!r}")
        name = target[len(prefix) :]
        # Manifests repeat their scalars (the same file, resolution, model in many
        # figures): a definition's answer for one is remembered, by type and value.
        known: dict[tuple[type, Any], bool] = {}

        def check(value: Any) -> bool:
            kind = type(value)
            if kind is str or kind is int or kind is bool:
                key = (kind, value)
                hit = known.get(key)
                if hit is None:
                    hit = known[key] = defs[name](value)
                return hit
            return defs[name](value)

        return check

    def build(schema: Any) -> Check:
        if schema is True or schema == {}:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        found = [_keyword(key, value, schema, build, ref) for key, value in schema.items()]
        checks = [check for check in found if check is not None]
        if len(checks) == 1:
            return checks[0]

        def every(value: Any) -> bool:
            for check in checks:  # noqa: SIM110 - a loop, not all(): it runs for every figure
                if not check(value):
                    return False
            return True

        return every

    for name, schema in definitions.items():
        defs[name] = build(schema)
    whole = build(root)

    def check(value: Any) -> bool:
        _plain(value)
        return whole(value)

    return check


def _plain(value: Any) -> None:
    """Unsure unless ``value`` holds only what a YAML (or JSON) document holds."""
    if type(value) not in _PLAIN:
        raise Unsure
    if type(value) is dict:
        for key, child in value.items():
            if type(key) not in _PLAIN:
                raise Unsure
            _plain(child)
    elif type(value) is list:
        for child in value:
            _plain(child)


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _keyword(
    key: str,
    value: Any,
    schema: Mapping[str, Any],
    build: Callable[[Any], Check],
    ref: Callable[[str], Check],
) -> Check | None:
    """The predicate of one keyword of ``schema`` (None: it never fails)."""
    if key in _ANNOTATIONS or key in ("then", "else"):
        return None  # then/else belong to `if`
    if key == "type":
        return _type(value)
    if key == "const":
        return _const(value)
    if key == "enum":
        if not all(type(item) is str for item in value):
            raise Unsupported("enum of other than text")
        choices = frozenset(value)
        return lambda v: type(v) is str and v in choices
    if key == "pattern":
        search = re.compile(value).search
        return lambda v: type(v) is not str or search(v) is not None
    if key in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        return _size(key, value)
    if key in ("minimum", "maximum"):
        return _bound(key, value)
    if key == "required":
        names = tuple(value)
        return lambda v: type(v) is not dict or all(name in v for name in names)
    if key == "properties":
        return _properties({name: build(sub) for name, sub in value.items()})
    if key == "additionalProperties":
        return _additional(frozenset(schema.get("properties", {})), build(value))
    if key == "propertyNames":
        name_check = build(value)
        return lambda v: type(v) is not dict or all(name_check(name) for name in v)
    if key == "items":
        item = build(value)
        return lambda v: type(v) is not list or all(item(child) for child in v)
    if key in ("allOf", "anyOf", "oneOf"):
        return _combined(key, [build(sub) for sub in value])
    if key == "not":
        if isinstance(value, dict) and value.keys() == {"type", "pattern"} and value["type"] == "string":
            search = re.compile(value["pattern"]).search  # `not: {type: string, pattern}`, in one step
            return lambda v: type(v) is not str or search(v) is None
        inner = build(value)
        return lambda v: not inner(v)
    if key == "if":
        return _conditional(build(value), build(schema.get("then", True)), build(schema.get("else", True)))
    if key == "$ref":
        return ref(value)
    raise Unsupported(f"keyword {key!r}")


def _type(name: Any) -> Check:
    if name == "string":
        return lambda v: type(v) is str
    if name == "object":
        return lambda v: type(v) is dict
    if name == "array":
        return lambda v: type(v) is list
    if name == "boolean":
        return lambda v: type(v) is bool
    if name == "null":
        return lambda v: v is None
    if name == "integer":

        def integer(v: Any) -> bool:
            if type(v) is float:
                raise Unsure  # jsonschema takes 2.0 for an integer
            return type(v) is int

        return integer
    if name == "number":
        return lambda v: type(v) in (int, float)
    raise Unsupported(f"type {name!r}")


def _const(expected: Any) -> Check:
    if type(expected) not in (str, int, bool, type(None)):
        raise Unsupported("const of a container or a float")

    def const(v: Any) -> bool:
        if type(v) is type(expected):
            return bool(v == expected)
        if type(v) in (int, float, bool) and type(expected) in (int, bool):
            raise Unsure  # 1.0 == 1, True is not 1: jsonschema's own rules
        return False

    return const


def _size(key: str, limit: int) -> Check:
    kind = {"Length": str, "Items": list, "Properties": dict}[key[3:]]
    if key.startswith("min"):
        return lambda v: type(v) is not kind or len(v) >= limit
    return lambda v: type(v) is not kind or len(v) <= limit


def _bound(key: str, limit: Any) -> Check:
    if type(limit) is not int:
        raise Unsupported(f"{key} {limit!r}")
    if key == "minimum":
        return lambda v: type(v) not in (int, float) or v >= limit
    return lambda v: type(v) not in (int, float) or v <= limit


def _properties(checks: Mapping[str, Check]) -> Check:
    items = tuple(checks.items())

    def properties(v: Any) -> bool:
        if type(v) is not dict:
            return True
        for name, check in items:  # noqa: SIM110 - faster than all(), and per figure
            if name in v and not check(v[name]):
                return False
        return True

    return properties


def _additional(known: frozenset[str], check: Check) -> Check:
    def additional(v: Any) -> bool:
        if type(v) is not dict:
            return True
        for name, child in v.items():  # noqa: SIM110 - faster than all(), and per figure
            if name not in known and not check(child):
                return False
        return True

    return additional


def _combined(key: str, checks: list[Check]) -> Check:
    if key == "allOf":
        return lambda v: all(check(v) for check in checks)
    if key == "anyOf":
        return lambda v: any(check(v) for check in checks)
    return lambda v: sum(1 for check in checks if check(v)) == 1


def _conditional(condition: Check, then: Check, otherwise: Check) -> Check:
    return lambda v: then(v) if condition(v) else otherwise(v)
