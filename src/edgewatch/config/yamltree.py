"""The composed YAML node tree: line numbers for paths, ``${NAME}`` substitution, duplicates.

PyYAML's composer keeps a mark (line, column) on every node; the constructor
drops them. Loading composes first, works on the nodes, then constructs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import yaml

from edgewatch.config.env import EnvReferenceError, substitute

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_KEY = "<<"

PathPart = str | int


def dotted(path: Sequence[PathPart]) -> str:
    """``("collectors", "disk", "exclude_fstypes", 2)`` -> ``collectors.disk.exclude_fstypes[2]``"""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _nodes(
    node: yaml.Node, path: tuple[PathPart, ...], seen: set[int]
) -> Iterator[tuple[yaml.Node, tuple[PathPart, ...]]]:
    """Every value node once (aliases share nodes), with its path; mapping keys are skipped."""
    if id(node) in seen:
        return
    seen.add(id(node))
    yield node, path
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value)) if isinstance(key, yaml.ScalarNode) else path
            yield from _nodes(value, sub, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _nodes(item, (*path, index), seen)


def substitute_env(root: yaml.Node, environ: Mapping[str, str]) -> list[tuple[int, str, str]]:
    """Replace ``${NAME}`` in every string value, in place; returns (line, path, message) errors."""
    problems: list[tuple[int, str, str]] = []
    for node, path in _nodes(root, (), set()):
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            try:
                node.value = substitute(str(node.value), environ)
            except EnvReferenceError as err:
                problems.append((line_of(node), dotted(path), str(err)))
    return problems


def duplicate_keys(root: yaml.Node) -> list[tuple[int, str, str]]:
    """Keys given twice in one mapping (PyYAML would silently keep the last)."""
    problems: list[tuple[int, str, str]] = []
    for node, path in _nodes(root, (), set()):
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[str, int] = {}
        for key, _value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == _MERGE_KEY:
                continue
            name = str(key.value)
            if name in first:
                problems.append(
                    (
                        line_of(key),
                        dotted((*path, name)),
                        f"duplicate key {name!r} (first given at line {first[name]})",
                    )
                )
            else:
                first[name] = line_of(key)
    return problems


def locate(root: yaml.Node, path: Sequence[PathPart], *, key_line: bool = False) -> int:
    """The line of the node at ``path``, or of the deepest node on the way there.

    With ``key_line`` the line of the last key itself (an unknown key); when the
    path ends at a key that is not there (a missing key), the line of the key
    holding the mapping it is missing from.
    """
    node = root
    line = line_of(root)
    holder_line = line
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and str(key.value) == str(part):
                    if last and key_line:
                        return line_of(key)
                    holder_line = line_of(key)
                    node, line = value, line_of(value)
                    break
            else:
                return holder_line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = holder_line = line_of(node)
        else:
            return line
    return line


def node_at(root: yaml.Node, path: Sequence[PathPart]) -> yaml.Node | None:
    """The node at ``path``, or None when the YAML has nothing there."""
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = [
                v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)
            ]
            if not found:
                return None
            node = found[-1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return None
            node = node.value[part]
        else:
            return None
    return node
