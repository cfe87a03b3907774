"""`records.frozen` behaves as `@dataclass(frozen=True)` and `records.mutable` as `@dataclass`:
one class declared both ways,
from drawn fields (defaults, default factories, compare/hash/repr flags, a
``__post_init__``, methods the class defines itself), must agree on everything the
rest of figbuild can see: construction (and its errors), repr, equality, hashing,
refusing assignment and deletion, and ``dataclasses.fields``/``replace``/``asdict``/
``astuple``/``__match_args__``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figbuild import records

VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text("ab", max_size=2),
    st.tuples(st.integers(0, 2)),
    st.frozensets(st.integers(0, 2), max_size=2),
)
#: Hashable or not: equality must agree either way, hashing where it can.
ANY_VALUES = st.one_of(
    VALUES,
    st.lists(st.integers(0, 2), max_size=2),
    st.dictionaries(st.text("ab", max_size=1), st.integers(0, 2), max_size=2),
)

FIELD = st.fixed_dictionaries(
    {
        "default": st.sampled_from(["none", "value", "factory"]),
        "compare": st.booleans(),
        "hash": st.sampled_from([None, True, False]),
        "repr": st.booleans(),
        "value": VALUES,
    }
)


def _declare(decorate: Any, specs: list[dict[str, Any]], extras: dict[str, Any]) -> type:
    """A class named Thing with fields f0, f1, … as ``specs`` say, decorated by ``decorate``."""
    namespace: dict[str, Any] = {"__annotations__": {}, "__module__": __name__, "__qualname__": "Thing"}
    seen_default = False
    for index, spec in enumerate(specs):
        name = f"f{index}"
        namespace["__annotations__"][name] = "Any"
        kind = spec["default"] if seen_default or spec["default"] != "none" else "none"
        if seen_default and kind == "none":
            kind = "value"  # no required field after one with a default
        flags = {"compare": spec["compare"], "hash": spec["hash"], "repr": spec["repr"]}
        if kind == "value":
            namespace[name] = dataclasses.field(default=spec["value"], **flags)
            seen_default = True
        elif kind == "factory":
            value = spec["value"]
            namespace[name] = dataclasses.field(default_factory=lambda value=value: [value], **flags)
            seen_default = True
        else:
            namespace[name] = dataclasses.field(**flags)
    namespace.update(extras)
    return decorate(type("Thing", (), namespace))


def _outcome(action: Any) -> tuple[str, Any]:
    try:
        return ("ok", action())
    except Exception as exc:  # the same exception, with the same message
        return (type(exc).__name__, str(exc))


EXTRAS = st.sampled_from(["none", "post_init", "own_repr", "own_eq", "doc"])


def _extras(kind: str) -> dict[str, Any]:
    if kind == "post_init":

        def __post_init__(self: Any) -> None:
            object.__setattr__(self, "seen", len(dataclasses.fields(self)))

        return {"__post_init__": __post_init__}
    if kind == "own_repr":
        return {"__repr__": lambda self: "mine"}
    if kind == "own_eq":
        return {"__eq__": lambda self, other: True}
    if kind == "doc":
        return {"__doc__": "A documented thing."}
    return {}


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["frozen", "mutable"]),
    specs=st.lists(FIELD, max_size=4),
    extras=EXTRAS,
    args=st.lists(ANY_VALUES, max_size=5),
    other=st.lists(ANY_VALUES, max_size=5),
    keyword=st.booleans(),
    assign=st.sampled_from(["f0", "f3", "other"]),
)
def test_a_record_behaves_as_the_dataclass_it_stands_for(
    kind: str,
    specs: list[dict[str, Any]],
    extras: str,
    args: list[Any],
    other: list[Any],
    keyword: bool,
    assign: str,
) -> None:
    pairs = {
        "frozen": (dataclasses.dataclass(frozen=True), records.frozen),
        "mutable": (dataclasses.dataclass, records.mutable),
    }
    classes = [_declare(decorate, specs, _extras(extras)) for decorate in pairs[kind]]
    seen: list[list[tuple[str, Any]]] = []
    for cls in classes:
        names = [f"f{index}" for index in range(len(specs))]

        def make(values: list[Any], cls: type = cls, names: list[str] = names) -> Any:
            if keyword:
                return cls(**dict(zip(names, values, strict=False)))
            return cls(*values)

        first, second = _outcome(lambda: make(args)), _outcome(lambda: make(other))
        answers = [first[0], second[0]]
        if first[0] != "ok":
            answers.append(first[1])
        if first[0] == "ok" and second[0] == "ok":
            a, b = first[1], second[1]
            copy, changed = make(args), make(args)
            answers += [
                repr(a),
                a == b,
                a == copy,
                a != b,
                a == args,
                _outcome(lambda a=a: hash(a)),
                _outcome(lambda a=a, b=b: hash(a) == hash(b)),
                _outcome(lambda c=changed: setattr(c, assign, 1)),
                _outcome(lambda c=changed: getattr(c, assign)),
                _outcome(lambda c=changed: delattr(c, assign)),
                _outcome(lambda c=changed: repr(c)),
                [(f.name, f.compare, f.repr) for f in dataclasses.fields(a)],
                dataclasses.asdict(a),
                dataclasses.astuple(a),
                _outcome(lambda a=a: repr(dataclasses.replace(a))),
                getattr(a, "seen", None),
                cls.__match_args__,
                dataclasses.is_dataclass(a),
                cls.__doc__ if extras == "doc" else None,
                type(a).__init__.__qualname__,
            ]
        seen.append(answers)
    assert seen[0] == seen[1]


def test_a_frozen_record_refuses_assignment_with_the_dataclass_error() -> None:
    @records.frozen
    class Point:
        x: int
        y: int = 0

    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        point.x = 2  # type: ignore[misc]
    assert point == Point(1, 0)
    assert hash(point) == hash((1, 0))
    assert repr(point).endswith(".Point(x=1, y=0)")


@pytest.mark.parametrize("decorate", [records.frozen, records.mutable])
def test_a_field_records_do_not_reproduce_is_refused_not_built_wrong(decorate: Any) -> None:
    with pytest.raises(TypeError, match="use @dataclass"):

        @decorate
        class Hidden:
            x: int = dataclasses.field(default=0, init=False)

    with pytest.raises(TypeError, match="use @dataclass"):

        @decorate
        class Keyword:
            x: int = dataclasses.field(default=0, kw_only=True)

    with pytest.raises(TypeError, match="use @dataclass"):

        @decorate
        class Passed:
            x: dataclasses.InitVar[int]
