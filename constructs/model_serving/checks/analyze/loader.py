"""Reading manifest files and folders into plain dicts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from model_serving.errors import InputError
from model_serving.yamlio import load_documents, read_text

_SUFFIXES = (".yaml", ".yml")


class AnalyzeInputError(InputError):
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


def _documents(path: Path) -> Iterator[Any]:
    try:
        yield from load_documents(read_text(path), source=str(path))
    except InputError as error:
        raise AnalyzeInputError(str(error)) from None


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
        raise AnalyzeInputError(f"{path}: document {number} is a List whose items are not all mappings; "
            "fix: make every item a Kubernetes object")
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
