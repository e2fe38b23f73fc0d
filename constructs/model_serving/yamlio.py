"""Reading YAML: the one loader and the one error formatter every command uses.

Two entry points over the same loader class: `load_config` for hand-written files (duplicate
keys refused, nesting bounded, merge keys allowed) and `load_documents` for manifests, which
may be large and machine-written, so they take the C loader's fast path.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from model_serving.errors import InputError

_BASE: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 64  # far beyond any real config; well inside Python's recursion limit


class YamlError(InputError):
    """A file that is not readable, not UTF-8, or not valid YAML."""


class ConfigLoader(_BASE):
    """A safe loader that refuses duplicate and non-scalar keys, as a config reader must."""


def _construct_mapping(loader: ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    explicit = [key for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"]
    seen: set[Any] = set()
    for key_node in explicit:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlError(
                f"line {key_node.start_mark.line + 1}: a {key_node.id} is used as a key; fix: use a plain name as the key"
            )
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise YamlError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice; fix: keep one")
        seen.add(key)
    # SafeConstructor expands `<<: *anchor` merge keys; explicit keys win over merged ones.
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def describe_error(error: yaml.YAMLError) -> str:
    """One line for a PyYAML error: `line N: invalid YAML (<problem>)` (PyYAML's span several lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    line = f"line {mark.line + 1}: " if mark is not None else ""
    return " ".join(f"{line}invalid YAML{f' ({problem})' if problem else ''}".split())


def read_text(path: Path) -> str:
    """A file's text; not readable or not UTF-8 is a YamlError naming the file and the fix."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise YamlError(f"{path}: cannot read the file ({error.strerror or error}); "
            "fix: check the path and permissions") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise YamlError(
            f"{path}: byte {error.start} is not UTF-8 text; fix: save the file as UTF-8"
        ) from None


def _depth(data: Any) -> int:
    """How deeply mappings and lists nest in `data` (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, level)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_config(text: str, *, source: str) -> Any:
    """Parse one hand-written YAML document; any problem is one YamlError line naming `source`."""
    try:
        data = yaml.load(text, Loader=ConfigLoader)
    except YamlError as error:
        raise YamlError(f"{source}: {error}") from None
    except yaml.YAMLError as error:
        raise YamlError(f"{source}: {describe_error(error)}; fix: correct the YAML syntax") from None
    except RecursionError:
        raise YamlError(f"{source}: nesting is too deep to read; fix: flatten the document") from None
    if _depth(data) > MAX_DEPTH:
        raise YamlError(f"{source}: nesting deeper than {MAX_DEPTH} levels; fix: flatten the document")
    return data


class _ManifestLoader(_BASE):
    """The fast C loader, with every string interned: a synthesized fleet repeats the same keys and
    values (`apiVersion`, `metadata`, namespaces, labels) thousands of times; one copy of each
    takes ~45 % less memory for 200 models' objects at no cost in time (see bench/RESULTS.md)."""


def _interned(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return sys.intern(str(loader.construct_scalar(node)))


_ManifestLoader.add_constructor("tag:yaml.org,2002:str", _interned)


def load_documents(text: str, *, source: str) -> Iterator[Any]:
    """Parse a multi-document manifest stream (the fast C loader); errors name `source`."""
    try:
        yield from yaml.load_all(text, Loader=_ManifestLoader)
    except yaml.YAMLError as error:
        raise YamlError(f"{source}: {describe_error(error)}; fix: correct the YAML syntax") from None
    except RecursionError:
        raise YamlError(f"{source}: nesting is too deep to read; fix: flatten the document") from None
