"""serving.yaml's reference, generated from the schema's own field descriptions.

Two outputs of the same models: the JSON Schema editors use (`serving.schema.json`, via
`# yaml-language-server: $schema=...`), and the README's field tables. Nothing is written by
hand twice, and tests check both committed copies equal a fresh generation.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

from model_serving.fleet.environment import Document
from model_serving.fleet.model import Model
from model_serving.units import GO_DURATION_PATTERN

SCHEMA_ID = "serving.schema.json"
_REF = "#/$defs/{model}"


def _partial(defs: dict[str, Any], name: str) -> str:
    """Add `<name>Override` to `defs`: the same fields, none required, nested objects partial too."""
    target = f"{name}Override"
    if target not in defs:
        schema = copy.deepcopy(defs[name])
        schema.pop("required", None)
        schema["title"] = target
        defs[target] = schema
        schema.update(_rewrite(defs, schema))
    return target


def _rewrite(defs: dict[str, Any], node: Any) -> Any:
    """Point every $ref inside `node` at the partial variant of its definition."""
    if isinstance(node, dict):
        if "$ref" in node:
            return {**node, "$ref": _REF.format(model=_partial(defs, node["$ref"].rsplit("/", 1)[1]))}
        return {k: _rewrite(defs, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(defs, v) for v in node]
    return node


def _shorthands(defs: dict[str, Any]) -> None:
    """Spellings the validators accept before the field's own type: `sticky: true`, `timeout: none`,
    and a plain string for an exact match."""
    for model in ("Model", "ModelOverride"):
        props = defs[model]["properties"]
        props["sticky"]["anyOf"].insert(0, {"type": "boolean"})
        props["timeout"]["anyOf"].insert(0, {"const": "none"})
    for route in ("Route", "RouteOverride"):
        defs[route]["properties"]["timeout"]["anyOf"].insert(0, {"const": "none"})
    for match in ("StringMatch", "StringMatchOverride"):
        shape = defs[match]
        defs[match] = {"title": shape.pop("title"), "description": shape.pop("description"),
                       "anyOf": [{"type": "string", "description": "The exact value."}, shape]}


def _durations(node: Any) -> None:
    """Give every duration string Go's pattern, so editors flag `30` or `5 min` as they are typed."""
    if isinstance(node, dict):
        if node.get("format") == "duration":
            node.pop("format")
            node["pattern"] = GO_DURATION_PATTERN
        for value in node.values():
            _durations(value)
    elif isinstance(node, list):
        for value in node:
            _durations(value)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of serving.yaml: models typed at the top level and in environment overrides."""
    schema = Document.model_json_schema(by_alias=True, ref_template=_REF)
    model = Model.model_json_schema(by_alias=True, ref_template=_REF)
    defs = {**schema.pop("$defs"), **model.pop("$defs"), "Model": model}
    schema["properties"]["models"]["additionalProperties"] = {"$ref": _REF.format(model="Model")}
    environment = defs["Environment"]["properties"]["models"]
    environment["additionalProperties"] = {"$ref": _REF.format(model=_partial(defs, "Model"))}
    _shorthands(defs)
    _durations(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """serving.schema.json as committed: indented, stable key order, a final newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[1]
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"] if p.get("type") != "null")
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        return f"map of {_type_of(prop['additionalProperties'])}"
    return "duration" if prop.get("pattern") == GO_DURATION_PATTERN else str(kind)


def _cell(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return re.sub(r"\s+", " ", text).replace("|", "\\|")


def _default(prop: dict[str, Any]) -> str:
    value = prop.get("default")
    return "none" if value is None else f"`{_cell(value)}`"


def markdown_tables() -> str:
    """One table per section of serving.yaml: field, type, default and description."""
    schema = json_schema()
    defs = schema["$defs"]
    sections = [("serving.yaml", schema)] + [(n, d) for n, d in defs.items() if not n.endswith("Override")]
    out: list[str] = []
    for name, section in sections:
        # A def with a shorthand is anyOf [shorthand, object]: the object holds the fields.
        section = next((a for a in section.get("anyOf", []) if "properties" in a), section) | {
            "description": section.get("description", "")
        }
        required = set(section.get("required", []))
        out += [f"#### {name}", "", _cell(section.get("description", "")), "",
                "| field | type | default | description |", "|---|---|---|---|"]
        for field, prop in section.get("properties", {}).items():
            default = "required" if field in required else _default(prop)
            out.append(f"| `{field}` | {_cell(_type_of(prop))} | {default} | {_cell(prop.get('description', ''))} |")
        out.append("")
    return "\n".join(out)
