"""Load YAML as plain data plus the line of every key, refusing duplicate keys.

PyYAML's loaders keep the last of two equal keys silently; in a manifest that
would drop a figure without a word, so duplicates are problems here.

Plain scalars are read as YAML 1.2's core schema reads them, as editors do
(yaml-language-server is YAML 1.2), not as PyYAML's YAML 1.1: ``16:9`` is the text
"16:9" (1.1: the sexagesimal number 969), ``yes``/``no``/``on``/``off`` are text
(1.1: booleans), ``2024-01-01`` is text (1.1: a date), ``010`` is ten (1.1: eight).
Only the core schema's tags are accepted: anything else (``!!python/object``,
``!!binary``, a local ``!tag``) and a recursive alias are errors, not data.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from figbuild.records import mutable

if TYPE_CHECKING:  # imported in load(): a manifest cached as JSON needs no YAML
    import yaml

Path_ = tuple[str | int, ...]

#: Most values a document may hold once its aliases are expanded. Consumers walk
#: values (to hash vars, say), so a "billion laughs" document is refused here.
MAX_EXPANDED = 1_000_000


#: Stands for how plain scalars are read, in cache keys of parsed documents.
READING = "yaml-1.2-core"

_CORE = "tag:yaml.org,2002:"
#: The tags of YAML 1.2's core schema: the only ones a manifest may use.
CORE_TAGS = frozenset(_CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))

#: YAML 1.2 core schema resolution of plain scalars: (tag, pattern, first characters).
_RESOLVERS = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
)


class YamlProblem(ValueError):
    """Valid YAML that is not plain data: an unsupported tag, a recursive alias."""

    def __init__(self, problem: str, node: Any, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = node.start_mark
        self.hint = hint


class TooLarge(ValueError):
    """The document expands to more values than :data:`MAX_EXPANDED` through aliases."""

    problem = f"the document expands to more than {MAX_EXPANDED:,} values through aliases"
    problem_mark = None


def to_json(doc: YamlDocument) -> dict[str, Any]:
    """A JSON-able form of a document without duplicates, for the cache."""
    return {"data": doc.data, "lines": [[list(path), line] for path, line in doc.lines.items()]}


def from_json(value: dict[str, Any]) -> YamlDocument:
    return YamlDocument(value["data"], {tuple(path): line for path, line in value["lines"]})


@mutable
class YamlDocument:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    #: (path of the mapping, key, line, first line) for every repeated key.
    duplicates: list[tuple[Path_, str, int, int]] = field(default_factory=list)
    #: Nodes already built, by identity: an alias reuses its anchor's object, so
    #: a "billion laughs" document costs linear time, as in PyYAML itself.
    built: dict[int, Any] = field(default_factory=dict, repr=False)
    #: Nodes being built: meeting one again is a recursive alias.
    building: set[int] = field(default_factory=set, repr=False)
    #: Values held by the mappings and lists built so far, and whether one of those was
    #: met again through an alias: if not, the document holds 1 + ``held`` values.
    held: int = field(default=0, repr=False)
    shared: bool = field(default=False, repr=False)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def load(text: str) -> YamlDocument:
    """Parse one YAML document. Raises ``yaml.YAMLError`` on invalid YAML."""

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        doc = YamlDocument(data=None)
        if node is not None:
            doc.lines[()] = node.start_mark.line + 1
            doc.data = _build(loader, node, (), doc)
            if (_expanded_size(doc.data, {}) if doc.shared else 1 + doc.held) > MAX_EXPANDED:
                raise TooLarge(TooLarge.problem)
        return doc
    finally:
        loader.dispose()


_LOADER: Any = None


def _loader_class() -> Any:
    """A safe loader (the C one where libyaml is available) reading YAML 1.2 core scalars."""
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Loader(base):  # type: ignore[misc]
            yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table

        for name, pattern, first in _RESOLVERS:
            Loader.add_implicit_resolver(_CORE + name, re.compile(pattern), list(first))
        Loader.add_constructor(_CORE + "int", _construct_int)
        table = Loader.yaml_implicit_resolvers
        scalar = yaml.ScalarNode
        default = Loader.DEFAULT_SCALAR_TAG

        def resolve(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
            """PyYAML's BaseResolver.resolve for this loader's table, with no path resolvers:
            called once a node, so without its general cases."""
            if kind is not scalar or self.yaml_path_resolvers:
                return base.resolve(self, kind, value, implicit)
            if implicit[0]:
                for tag, regexp in table.get(value[0] if value else "", ()):
                    if regexp.match(value):
                        return tag
            return default

        if None not in table:  # no resolver tried for every first character: none to try last
            Loader.resolve = resolve
        _LOADER = Loader
    return _LOADER


def _construct_int(loader: Any, node: Any) -> int:
    value = str(loader.construct_scalar(node))
    if value.startswith("0o"):
        return int(value[2:], 8)
    if value.startswith("0x"):
        return int(value[2:], 16)
    return int(value, 10)


_STR = _CORE + "str"


def _build(loader: Any, node: yaml.Node, path: Path_, doc: YamlDocument) -> Any:
    tag = node.tag
    if tag == _STR and node.id == "scalar":  # type: ignore[attr-defined]  # PyYAML's class-level id
        # Text, most of a manifest: what PyYAML's constructor returns for it, without
        # its bookkeeping (a scalar contains nothing, so it needs no alias tracking).
        return node.value
    if tag not in CORE_TAGS:
        raise YamlProblem(
            f"unsupported tag {node.tag.replace(_CORE, '!!')!r}",
            node,
            "figures.yaml holds plain data (text, numbers, true/false, lists, mappings): remove the tag",
        )
    if id(node) in doc.building:
        raise YamlProblem(
            "an alias refers to a value that contains it (a recursive alias)",
            node,
            "copy the value instead of aliasing it inside itself",
        )
    if id(node) in doc.built:
        doc.shared = True
        return doc.built[id(node)]
    doc.building.add(id(node))
    try:
        value = _build_new(loader, node, path, doc)
    finally:
        doc.building.discard(id(node))
    return value


def _build_new(loader: Any, node: yaml.Node, path: Path_, doc: YamlDocument) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        doc.built[id(node)] = out
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("a key is a list or a mapping", key_node, "keys are plain names")
            key = _build(loader, key_node, path, doc)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                key = str(key)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            line = key_node.start_mark.line + 1
            if key in out:
                doc.duplicates.append((path, str(key), line, doc.lines.get(child, 0)))
                continue
            doc.lines[child] = line
            out[key] = _build(loader, value_node, child, doc)
        doc.held += len(out)
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        doc.built[id(node)] = items
        for index, item in enumerate(node.value):
            child = (*path, index)
            doc.lines[child] = item.start_mark.line + 1
            items.append(_build(loader, item, child, doc))
        doc.held += len(items)
        return items
    return loader.construct_object(node, deep=True)


def _expanded_size(value: Any, sizes: dict[int, int]) -> int:
    """How many values ``value`` holds with shared (aliased) parts counted every time."""
    if not isinstance(value, (dict, list)):
        return 1
    known = sizes.get(id(value))
    if known is not None:
        return known
    sizes[id(value)] = 1  # a recursive alias counts once instead of forever
    children = value.values() if isinstance(value, dict) else value
    total = 1 + sum(_expanded_size(child, sizes) for child in children)
    sizes[id(value)] = total
    return total
