"""Frozen dataclasses made for a fraction of what ``@dataclass(frozen=True)`` costs.

``dataclasses.dataclass`` compiles six functions per frozen class (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``), each through
its own ``exec``: about half a millisecond a class, 20 ms of every full-path ``status``
for the 40-odd classes it loads. :func:`frozen` lets ``dataclasses`` collect the fields
(so ``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` work as ever) but
generate nothing, compiles ``__init__`` alone (when the class is first instantiated: many
a run never makes), and gives the class the other five as
ready-made functions over an ``operator.attrgetter`` of its fields. They behave as the
generated ones do (``tests/test_records.py`` compares the two on drawn classes and
values): the same ``__init__`` signature with defaults and default factories, then
``__post_init__``; ``__eq__`` on the same class only, comparing the ``compare`` fields as
a tuple; ``__hash__`` of that tuple; the same ``repr``; ``FrozenInstanceError`` on
assignment or deletion. :func:`mutable` does the same for a plain ``@dataclass``
(three methods compiled there): fields assigned in ``__init__``, no ``__hash__``.
"""

from __future__ import annotations

import _thread
import dataclasses
import operator
from collections.abc import Callable
from typing import Any, TypeVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[_F], _F]:
        return lambda function: function


_T = TypeVar("_T")
_F = TypeVar("_F")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[_T]) -> type[_T]:
    """``@dataclass(frozen=True)``, cheaper to create (see the module's docstring)."""
    return _record(cls, frozen=True)


@dataclass_transform(field_specifiers=(dataclasses.field,))
def mutable(cls: type[_T]) -> type[_T]:
    """``@dataclass``, cheaper to create: as :func:`frozen`, with fields that can be
    assigned, and (as dataclasses makes a class that compares by value) unhashable."""
    return _record(cls, frozen=False)


def _record(cls: type[_T], *, frozen: bool) -> type[_T]:
    # Fields collected, nothing generated: no __init__, __repr__, __eq__, __hash__, and
    # not frozen here (that would compile __setattr__ and __delattr__). A class without a
    # docstring keeps none: dataclasses would write its signature there, through inspect.
    undocumented = cls.__doc__ is None
    if undocumented:
        cls.__doc__ = "-"
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    if undocumented:
        cls.__doc__ = None
    specs = dataclasses.fields(cls)  # type: ignore[arg-type]
    hints = vars(cls).get("__annotations__", {}).values()
    if any(not spec.init or spec.kw_only for spec in specs) or any("InitVar" in str(hint) for hint in hints):
        # Not reproduced here: dataclasses would build another __init__.
        raise TypeError(f"record {cls.__name__} has an init=False, kw_only or InitVar field: use @dataclass")
    names = tuple(spec.name for spec in specs)
    compared = tuple(spec.name for spec in specs if spec.compare)
    hashed = tuple(spec.name for spec in specs if (spec.compare if spec.hash is None else spec.hash))
    shown = tuple(spec.name for spec in specs if spec.repr)
    own = cls.__dict__
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    if frozen and ("__setattr__" in own or "__delattr__" in own):
        raise TypeError(f"frozen record {cls.__name__} defines __setattr__ or __delattr__")
    if frozen and explicit_hash:
        raise TypeError(f"frozen record {cls.__name__} defines __hash__")  # dataclasses keeps it
    methods: dict[str, Callable[..., Any] | None] = {
        "__init__": _compiled_when_called(cls, specs, frozen),
        "__repr__": _repr(shown),
        "__eq__": _eq(_values(compared)),
    }
    if frozen:
        methods["__hash__"] = _hash(_values(hashed))
        methods["__setattr__"] = _refuse_set(cls, frozenset(names))
        methods["__delattr__"] = _refuse_delete(cls, frozenset(names))
    elif not explicit_hash:
        methods["__hash__"] = None  # as dataclasses: equal by value, so not hashable
    for name, method in methods.items():
        if name in ("__init__", "__repr__", "__eq__") and name in own:
            continue  # as dataclasses: a method the class defines is kept
        if method is not None:
            method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
    return cls


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The named attributes of an object, always as a tuple (attrgetter of one name is not)."""
    if len(names) == 1:
        (name,) = names
        return lambda obj: (getattr(obj, name),)
    if not names:
        return lambda obj: ()
    return operator.attrgetter(*names)


def _init(cls: type, specs: tuple[dataclasses.Field[Any], ...], frozen: bool) -> Callable[..., None]:
    """``__init__`` compiled as dataclasses compiles it (a frozen class's fields set through
    ``object.__setattr__``, another's by assignment): the one exec left."""
    namespace: dict[str, Any] = {"__set": object.__setattr__, "__factory": _FACTORY}
    params, lines = [], []
    for spec in specs:
        name = spec.name
        if spec.default is not dataclasses.MISSING:
            namespace[f"__default_{name}"] = spec.default
            params.append(f"{name}=__default_{name}")
            value = name
        elif spec.default_factory is not dataclasses.MISSING:
            namespace[f"__make_{name}"] = spec.default_factory
            params.append(f"{name}=__factory")
            value = f"__make_{name}() if {name} is __factory else {name}"
        else:
            params.append(name)
            value = name
        lines.append(f"  __set(self, {name!r}, {value})" if frozen else f"  self.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        lines.append("  self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(lines) or "  pass") + "\n"
    exec(source, namespace)  # noqa: S102 - source built above from field names only
    function: Callable[..., None] = namespace["__init__"]
    return function


def _compiled_when_called(
    cls: type, specs: tuple[dataclasses.Field[Any], ...], frozen: bool
) -> Callable[..., None]:
    """An ``__init__`` that compiles the real one (:func:`_init`) when first called, puts it
    in its place and calls it: a class a run never instantiates never compiles one."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real = _init(cls, specs, frozen)
        real.__qualname__ = f"{cls.__qualname__}.__init__"
        if cls.__dict__.get("__init__") is __init__:
            type.__setattr__(cls, "__init__", real)
        real(self, *args, **kwargs)

    return __init__


class _Factory:
    """The default of a parameter whose field has a default factory (as dataclasses' own)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        # As dataclasses' _recursive_repr: a record met again inside itself is "...".
        key = (id(self), _thread.get_ident())
        if key in running:
            return "..."
        running.add(key)
        try:
            shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        finally:
            running.discard(key)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _eq(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, object], Any]:
    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hash(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


def _refuse_set(owner: type[Any], names: frozenset[str]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is owner or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)

    return __setattr__


def _refuse_delete(owner: type[Any], names: frozenset[str]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is owner or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)

    return __delattr__
