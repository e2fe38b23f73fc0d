"""serving.yaml's JSON Schema and README tables: committed, current, and right about real files."""
from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from helpers import ROOT, load_yaml

SCHEMA = ROOT / "serving.schema.json"
CONFIGS = [ROOT / "serving.yaml", *sorted((ROOT / "examples").glob("*.yaml"))]


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_and_readme_tables_equal_a_fresh_generation() -> None:
    result = subprocess.run([sys.executable, "scripts/reference.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_validates_and_names_the_schema(path) -> None:
    assert path.read_text().startswith("# yaml-language-server: $schema=")
    assert list(_validator().iter_errors(load_yaml(path))) == []


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d["models"]["ai-model"]["versions"]["v1"].update(wieght=90), "wieght"),
    (lambda d: d["environments"]["production"].update(models={"ai-model": {"tiemout": "5s"}}), "tiemout"),
    (lambda d: d["models"]["ai-model"].update(timeout=30), "30"),
    (lambda d: d["models"]["ai-model"].update(timeout="5 minutes"), "5 minutes"),
])
def test_fails_when_a_field_is_misspelt_or_mistyped(mutate, where: str) -> None:
    data = load_yaml(ROOT / "serving.yaml")
    mutate(data)
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors and any(where in e for e in errors), errors


def test_shorthands_validate() -> None:
    data = load_yaml(ROOT / "serving.yaml")
    data["models"]["ai-model"].update(sticky=True, timeout="none")
    data["environments"]["production"]["models"] = {"ai-model": {"versions": {"v1": {"weight": 100}, "v2": {"weight": 0}}}}
    assert list(_validator().iter_errors(data)) == []


def test_every_field_has_a_description() -> None:
    defs = json.loads(SCHEMA.read_text())["$defs"]
    missing = [f"{name}.{field}" for name, d in defs.items() for field, p in d.get("properties", {}).items()
               if not p.get("description")]
    assert missing == []
