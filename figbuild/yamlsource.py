"""Load YAML as plain data plus the line of every key, refusing duplicate keys.

PyYAML's loaders keep the last of two equal keys silently; in a manifest that
would drop a figure without a word, so duplicates are problems here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported in load(): a manifest cached as JSON needs no YAML
    import yaml

Path_ = tuple[str | int, ...]

#: Most values a document may hold once its aliases are expanded. Consumers walk
#: values (to hash vars, say), so a "billion laughs" document is refused here.
MAX_EXPANDED = 1_000_000


class TooLarge(ValueError):
    """The document expands to more values than :data:`MAX_EXPANDED` through aliases."""

    problem = f"the document expands to more than {MAX_EXPANDED:,} values through aliases"
    problem_mark = None


def to_json(doc: YamlDocument) -> dict[str, Any]:
    """A JSON-able form of a document without duplicates, for the cache."""
    return {"data": doc.data, "lines": [[list(path), line] for path, line in doc.lines.items()]}


def from_json(value: dict[str, Any]) -> YamlDocument:
    return YamlDocument(value["data"], {tuple(path): line for path, line in value["lines"]})


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    #: (path of the mapping, key, line, first line) for every repeated key.
    duplicates: list[tuple[Path_, str, int, int]] = field(default_factory=list)
    #: Nodes already built, by identity: an alias reuses its anchor's object, so
    #: a "billion laughs" document costs linear time, as in PyYAML itself.
    built: dict[int, Any] = field(default_factory=dict, repr=False)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def load(text: str) -> YamlDocument:
    """Parse one YAML document. Raises ``yaml.YAMLError`` on invalid YAML."""

    try:  # the C loader is several times faster where libyaml is available
        from yaml import CSafeLoader as _Loader
    except ImportError:  # pragma: no cover - depends on how PyYAML was built
        from yaml import SafeLoader as _Loader  # type: ignore[assignment]

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = YamlDocument(data=None)
        if node is not None:
            doc.lines[()] = node.start_mark.line + 1
            doc.data = _build(loader, node, (), doc)
            if _expanded_size(doc.data, {}) > MAX_EXPANDED:
                raise TooLarge(TooLarge.problem)
        return doc
    finally:
        loader.dispose()


def _build(loader: Any, node: yaml.Node, path: Path_, doc: YamlDocument) -> Any:
    import yaml

    if id(node) in doc.built:
        return doc.built[id(node)]
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        doc.built[id(node)] = out  # before the children: a recursive alias ends here
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                key = str(key)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            line = key_node.start_mark.line + 1
            if key in out:
                doc.duplicates.append((path, str(key), line, doc.lines.get(child, 0)))
                continue
            doc.lines[child] = line
            out[key] = _build(loader, value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        doc.built[id(node)] = items
        for index, item in enumerate(node.value):
            child = (*path, index)
            doc.lines[child] = item.start_mark.line + 1
            items.append(_build(loader, item, child, doc))
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
