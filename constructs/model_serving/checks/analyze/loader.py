"""Reading manifest files and folders into plain dicts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

# The C loader is several times faster on large synth outputs; both are "safe".
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUFFIXES = (".yaml", ".yml")


class AnalyzeInputError(Exception):
    """The manifests could not be read; the message is one line and names the file."""


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
        if not found:
            # An empty folder usually means a synth step did not run: passing would hide that.
            raise AnalyzeInputError(f"{path}: no *.yaml or *.yml files found; fix: point at the folder that holds the manifests")
        return found
    if path.is_file():
        return [path]
    raise AnalyzeInputError(f"{path}: no such file or directory; fix: check the path (files or folders of YAML)")


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def _documents(path: Path) -> Iterator[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise AnalyzeInputError(f"{path}: cannot read file: {reason}; fix: check the file's permissions and encoding (UTF-8)") from error
    try:
        yield from yaml.load_all(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise AnalyzeInputError(f"{path}: invalid YAML: {_yaml_problem(error)}; fix: correct the YAML syntax") from error


def _expand(document: Any, path: Path, number: int) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise AnalyzeInputError(
            f"{path}: document {number} is a {type(document).__name__}, expected a mapping (a Kubernetes object); "
            "fix: remove that document or make it a Kubernetes object"
        )
    if document.get("kind") != "List":
        return [document]
    items = document.get("items") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise AnalyzeInputError(f"{path}: document {number} is a List whose items are not all mappings; fix: make every item a Kubernetes object")
    return list(items)


def load_manifests(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Read every object from the given files and folders (folders: recursive *.yaml/*.yml, sorted)."""
    objects: list[dict[str, Any]] = []
    for given in paths:
        for path in _files(Path(given)):
            for number, document in enumerate(_documents(path), start=1):
                if document is not None:
                    objects.extend(_expand(document, path, number))
    return objects
