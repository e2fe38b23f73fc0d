"""Offline validation of generated manifests, as strict as the API server would be.

Istio objects are checked against the ``openAPIV3Schema`` of their CRD (structural-schema
semantics: unknown fields are errors, as with ``kubectl apply --validate=strict``) and
against the CRD's CEL ``x-kubernetes-validations`` rules. Built-in kinds are checked with
the strict JSON schemas that the ``kubernetes-validate`` package ships.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib.resources
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import celpy
import celpy.evaluation
import jsonschema
import jsonschema.validators
import lark
from celpy import celtypes
from referencing import Registry, Resource

from model_serving.errors import InputError
from model_serving.yamlio import load_documents, read_text

__all__ = [
    "CEL_RULE_ALLOWLIST",
    "DEFAULT_KUBERNETES_VERSION",
    "CelCompileError",
    "IstioSchemaValidator",
    "ValidationError",
    "compile_cel",
    "default_crd_path",
    "validate_builtin",
    "validate_manifests",
]

#: Kubernetes version whose built-in schemas ``validate_builtin`` uses by default.
DEFAULT_KUBERNETES_VERSION = "1.30"

#: CEL rules of the bundle that cannot be compiled here, with the reason; they are skipped.
#: tests/validate checks that this is exactly the set of rules that fail to compile.
CEL_RULE_ALLOWLIST: Mapping[str, str] = {}

_FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ValidationError:
    """One finding: which object, where in it, and what is wrong."""

    resource: str  # "VirtualService ai-services/ai-model"
    path: str  # "spec.http[0].route[1].weight"; "" for the object itself
    message: str

    def __str__(self) -> str:
        where = f"{self.resource}: {self.path}" if self.path else self.resource
        return " ".join(f"{where}: {self.message}".split())


def default_crd_path() -> Path:
    """The Istio CRD bundle as `model_serving.checks.crds` resolves it (environment, ../shared, or a
    verified download cached under .tools/); raises `CrdBundleError` with a one-line fix if there is none."""
    from model_serving.checks.crds import bundle_path

    return bundle_path()


# --------------------------------------------------------------------------- formatting


def _format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", part):
            out += f".{part}" if out else part
        else:  # label keys such as app.kubernetes.io/name would read as nested fields
            out += f"[{json.dumps(part)}]"
    return out


def _resource_name(obj: Mapping[str, Any]) -> str:
    kind = obj.get("kind") or "<no kind>"
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or "<no name>"
    namespace = meta.get("namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    """Keys that an ``additionalProperties: false`` error complains about."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in error.instance
        if key not in known and not any(re.search(p, key) for p in patterns)
    ]


def _exclusive_fields(alternatives: Sequence[Any]) -> list[str]:
    """Field names of Istio's ``oneOf: [not anyOf required..., required: [a], ...]`` idiom."""
    return [
        field
        for alt in alternatives
        if isinstance(alt, Mapping) and set(alt) == {"required"}
        for field in alt["required"]
    ]


def _message(error: jsonschema.ValidationError) -> str:
    """A short, one-line message in the spirit of the API server's."""
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        return f"must be of type {expected}, got {_json_type(instance)}"
    if kind == "enum":
        return f"unsupported value {_short(instance)}: supported values: " + ", ".join(
            json.dumps(v) for v in value
        )
    if kind == "required":
        missing = [f for f in value if isinstance(instance, Mapping) and f not in instance]
        return "missing required field " + ", ".join(f'"{f}"' for f in missing)
    if kind == "oneOf":
        fields = _exclusive_fields(value)
        if fields and isinstance(instance, Mapping):
            found = [f for f in fields if f in instance]
            return f"at most one of {', '.join(fields)} may be set (found {', '.join(found)})"
        return "must match exactly one of the oneOf schemas"
    if kind == "anyOf":
        types = [str(alt.get("type") or "") for alt in value if isinstance(alt, Mapping)]
        if all(types):
            return f"must be of type {' or '.join(types)}, got {_json_type(instance)}"
        return "must match at least one of the anyOf schemas"
    if kind in ("maxLength", "minLength"):
        return f"length must be {'at most' if kind == 'maxLength' else 'at least'} {value}"
    if kind in ("maxItems", "minItems", "maxProperties", "minProperties"):
        bound = "at most" if kind.startswith("max") else "at least"
        return f"must have {bound} {value} {'items' if 'Items' in kind else 'properties'}"
    if kind == "pattern":
        return f"{_short(instance)} must match the pattern {value!r}"
    if kind == "format":
        return f"{_short(instance)} is not a valid {value}"
    return " ".join(error.message.split())[:200]


def _findings(resource: str, errors: Iterable[jsonschema.ValidationError]) -> list[ValidationError]:
    findings = []
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False:
            # jsonschema reports all unknown keys at the parent; name each one instead
            findings += [
                ValidationError(resource, _format_path(path + (k,)), f'unknown field "{k}"')
                for k in _unknown_keys(error)
            ]
        else:
            findings.append(ValidationError(resource, _format_path(path), _message(error)))
    return findings


# ------------------------------------------------------------ structural (CRD) schemas

_Errors = Iterator[jsonschema.ValidationError]
_Keyword = Callable[[Any, Any, Any, Mapping[str, Any]], _Errors]
_BASE = jsonschema.Draft4Validator  # OpenAPI v3.0 schemas are a Draft 4 dialect


def _nullable_aware(keyword: _Keyword) -> _Keyword:
    def check(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
        if instance is None and schema.get("nullable") is True:
            return
        yield from keyword(validator, value, instance, schema) or ()

    return check


def _type_and_unknown_fields(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
    yield from _BASE.VALIDATORS["type"](validator, types, instance, schema) or ()
    if types != "object" or not isinstance(instance, dict):
        return
    if schema.get("x-kubernetes-preserve-unknown-fields") is True:
        return
    if schema.get("additionalProperties") not in (None, False):
        return  # a map: its keys are checked by additionalProperties
    known = schema.get("properties", {})
    for key in instance:
        if key not in known:
            # strict field validation reports what pruning would silently drop
            yield jsonschema.ValidationError(
                f'unknown field "{key}"', validator="unknownField", path=[key]
            )


def _int_or_string(validator: Any, enabled: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
    if enabled is True and not (
        isinstance(instance, str) or validator.is_type(instance, "integer")
    ):
        yield jsonschema.ValidationError(
            f"must be of type integer or string, got {_json_type(instance)}"
        )


def _any_of(validator: Any, alternatives: Any, instance: Any, schema: Mapping[str, Any]) -> _Errors:
    if schema.get("x-kubernetes-int-or-string") is True:
        return  # already reported once by x-kubernetes-int-or-string
    yield from _BASE.VALIDATORS["anyOf"](validator, alternatives, instance, schema) or ()


def _format_checker() -> jsonschema.FormatChecker:
    """The formats Istio's CRDs use; unknown formats pass, as in the API server."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("int32")
    def _int32(value: Any) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")
    def _int64(value: Any) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    @checker.checks("byte", raises=(binascii.Error, ValueError))
    def _byte(value: Any) -> bool:
        return not isinstance(value, str) or base64.b64decode(value, validate=True) is not None

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        return (
            "T" in value.upper()
            and datetime.fromisoformat(value) is not None
        )

    return checker


_FORMAT_CHECKER = _format_checker()

_StructuralValidator = jsonschema.validators.extend(
    _BASE,
    {
        keyword: _nullable_aware(check)
        for keyword, check in {
            **_BASE.VALIDATORS,
            "type": _type_and_unknown_fields,
            "anyOf": _any_of,
            "x-kubernetes-int-or-string": _int_or_string,
        }.items()
    },
)

# apiVersion/kind/metadata are implicit in every CRD; metadata is not checked against it
_IMPLICIT_ROOT_PROPERTIES = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}


# errors that, as in the API server, stop CEL evaluation (rules assume well-typed values)
_TYPE_KEYWORDS = frozenset({"type", "x-kubernetes-int-or-string"})


def _root_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {**schema, "properties": {**schema.get("properties", {}), **_IMPLICIT_ROOT_PROPERTIES}}


# ---------------------------------------------------------------------------------- CEL


class CelCompileError(ValueError):
    """A CEL expression that does not parse, or calls a function that is not provided."""


def _url_parts(text: str) -> urllib.parse.SplitResult | None:
    """Like Go's url.ParseRequestURI, which Kubernetes' url()/isURL() use."""
    if not text or any(c.isspace() for c in text):
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return None
    return parts if parts.scheme or text.startswith("/") else None


@dataclass(frozen=True)
class _CelUrl:
    parts: urllib.parse.SplitResult


def _cel_url(text: Any) -> _CelUrl:
    parts = _url_parts(str(text))
    if parts is None:
        raise ValueError(f"URL parse error during conversion from string: {text}")
    return _CelUrl(parts)


def _cel_query(url: _CelUrl) -> celtypes.MapType:
    query = urllib.parse.parse_qs(url.parts.query, keep_blank_values=True)
    return celpy.json_to_cel(query)  # type: ignore[return-value]


def _is_ip(text: Any) -> bool:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return "%" not in str(text)  # Kubernetes rejects IPv6 zones


def _is_cidr(text: Any) -> bool:
    try:
        ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return False
    return "/" in str(text)


def _substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType:
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise ValueError(f"substring index out of range: [{start}:{stop}] of {len(text)}")
    return celtypes.StringType(text[int(start) : stop])


def _split(text: Any, sep: Any, limit: Any = -1) -> celtypes.ListType:
    if int(limit) == 0:
        return celtypes.ListType()
    parts = (
        str(text).split(str(sep), int(limit) - 1) if int(limit) > 0 else str(text).split(str(sep))
    )
    return celtypes.ListType(celtypes.StringType(p) for p in parts)


def _ascii(convert: Callable[[str], str]) -> Callable[[Any], celtypes.StringType]:
    # only ASCII letters change case, as in Kubernetes' strings library
    return lambda text: celtypes.StringType("".join(convert(c) if c.isascii() else c for c in text))


def _str(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *args: celtypes.StringType(fn(*args))


def _int(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *args: celtypes.IntType(fn(*args))


#: Kubernetes CEL library functions that celpy does not have (strings, url, ip libraries).
CEL_EXTENSIONS: Mapping[str, Callable[..., Any]] = {
    # strings library
    "charAt": lambda s, i: celtypes.StringType(s[int(i)] if int(i) < len(s) else ""),
    "indexOf": _int(lambda s, sub, start=0: s.find(sub, int(start))),
    "lastIndexOf": _int(
        lambda s, sub, end=None: s.rfind(sub, 0, None if end is None else int(end) + len(sub))
    ),
    "lowerAscii": _ascii(str.lower),
    "upperAscii": _ascii(str.upper),
    "replace": _str(lambda s, old, new, n=-1: s.replace(old, new, int(n))),
    "split": _split,
    "substring": _substring,
    "trim": _str(lambda s: s.strip()),
    "join": _str(lambda items, sep="": str(sep).join(items)),
    # url library
    "url": _cel_url,
    "isURL": lambda s: celtypes.BoolType(_url_parts(str(s)) is not None),
    "getScheme": _str(lambda u: u.parts.scheme),
    "getHost": _str(lambda u: u.parts.netloc.rpartition("@")[2]),
    "getHostname": _str(lambda u: u.parts.hostname or ""),
    "getPort": _str(lambda u: "" if u.parts.port is None else str(u.parts.port)),
    "getEscapedPath": _str(lambda u: u.parts.path),
    "getQuery": _cel_query,
    # ip library (predicates only)
    "isIP": lambda s: celtypes.BoolType(_is_ip(s)),
    "isCIDR": lambda s: celtypes.BoolType(_is_cidr(s)),
}

# macros are expanded by celpy's evaluator, not looked up as functions
_CEL_MACROS = frozenset({"has", "dyn", "all", "exists", "exists_one", "map", "filter"})
_CEL_KNOWN = frozenset(celpy.evaluation.base_functions) | frozenset(CEL_EXTENSIONS) | _CEL_MACROS
_CEL_ENV = celpy.Environment()


def _called_functions(tree: lark.Tree) -> set[str]:
    names = set()
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg":
            names.add(str(node.children[1]))
        elif node.data in ("ident_arg", "dot_ident_arg"):
            names.add(str(node.children[0]))
    return names


def _uses_old_self(tree: lark.Tree) -> bool:
    return any(
        node.data == "ident" and str(node.children[0]) == "oldSelf" for node in tree.iter_subtrees()
    )


@dataclass(frozen=True)
class _CelProgram:
    runner: celpy.Runner
    transition: bool  # uses oldSelf: cannot be checked without an old object


@functools.cache
def compile_cel(expression: str) -> _CelProgram:
    """Parse a CEL expression once (cached) and check every function it calls is provided."""
    try:
        tree = _CEL_ENV.compile(expression)
    except Exception as exc:  # celpy raises CELParseError and, for some inputs, lark errors
        raise CelCompileError(f"cannot parse {expression!r}: {' '.join(str(exc).split())}") from exc
    unknown = _called_functions(tree) - _CEL_KNOWN
    if unknown:
        raise CelCompileError(
            f"undeclared function(s) {', '.join(sorted(unknown))} in {expression!r}"
        )
    return _CelProgram(_CEL_ENV.program(tree, functions=dict(CEL_EXTENSIONS)), _uses_old_self(tree))


def _eval_error_text(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return " ".join(text.split(" (in activation")[0].split())[:160]


def _evaluate(program: _CelProgram, value: celtypes.Value) -> Any:
    result = program.runner.evaluate({"self": value})
    if isinstance(result, celpy.CELEvalError):
        raise result
    return result


def _rule_failure(rule: Mapping[str, Any], value: celtypes.Value) -> str | None:
    """The message for a rule that ``value`` violates, or None if it holds (or is skipped)."""
    text = rule["rule"]
    message = rule.get("message") or f"failed rule: {text}"
    if text in CEL_RULE_ALLOWLIST:
        return None
    try:
        program = compile_cel(text)
    except CelCompileError as exc:
        return f"validation rule cannot be compiled: {exc}"
    if program.transition:
        return None
    try:
        result = _evaluate(program, value)
    except Exception as exc:
        return f"{message} (rule evaluation error: {_eval_error_text(exc)})"
    if isinstance(result, celtypes.BoolType) and bool(result):
        return None
    if not isinstance(result, celtypes.BoolType):
        return f"{message} (rule did not evaluate to a bool)"
    return _message_expression(rule, value) or message


def _message_expression(rule: Mapping[str, Any], value: celtypes.Value) -> str | None:
    expression = rule.get("messageExpression")
    if not expression:
        return None
    try:
        result = _evaluate(compile_cel(expression), value)
    except Exception:
        return None
    return str(result) if isinstance(result, str) and result.strip() else None


def _list_type_errors(schema: Mapping[str, Any], items: list[Any]) -> Iterator[tuple[int, str]]:
    """Duplicates in ``x-kubernetes-list-type: set`` / ``map`` lists."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for index, item in enumerate(items):
        if list_type == "map" and isinstance(item, Mapping):
            identity = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
        else:
            identity = json.dumps(item, sort_keys=True)
        if identity in seen:
            yield index, f"duplicate value: {identity}"
        seen.add(identity)


def _walk_rules(
    schema: Mapping[str, Any], value: Any, path: _FieldPath
) -> Iterator[tuple[_FieldPath, str]]:
    """Evaluate x-kubernetes-validations (and list-type invariants) where they are declared."""
    if value is None:
        return
    rules = schema.get("x-kubernetes-validations")
    if rules:
        cel_value = celpy.json_to_cel(value)
        for rule in rules:
            failure = _rule_failure(rule, cel_value)
            if failure:
                yield path, failure
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            sub = properties.get(key, additional)
            if isinstance(sub, Mapping):
                yield from _walk_rules(sub, child, path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, message in _list_type_errors(schema, value):
            yield path + (index,), message
        for index, child in enumerate(value):
            yield from _walk_rules(schema["items"], child, path + (index,))


# -------------------------------------------------------------------------------- Istio


def _load_bundle(path: Path) -> list[Any]:
    try:
        return [doc for doc in load_documents(read_text(path), source=str(path)) if doc]
    except InputError as exc:
        raise ValueError(f"cannot read Istio CRD bundle: {exc}") from exc


class IstioSchemaValidator:
    """Validates Istio objects against the schemas and CEL rules of a CRD bundle file."""

    def __init__(self, crd_path: str | Path) -> None:
        self.crd_path = Path(crd_path)
        self._schemas: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        for doc in _load_bundle(self.crd_path):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                self._index(doc["spec"])
        if not self._schemas:
            raise ValueError(
                f"no CustomResourceDefinition found in Istio CRD bundle {self.crd_path}"
            )
        self._validators: dict[tuple[str, str, str], jsonschema.protocols.Validator] = {}

    def _index(self, spec: Mapping[str, Any]) -> None:
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec.get("versions", []):
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if version.get("served", True) and schema:
                self._schemas[(group, kind, version["name"])] = schema

    def kinds(self) -> set[tuple[str, str]]:
        """The (apiVersion, kind) pairs that the bundle defines."""
        return {(f"{group}/{version}", kind) for group, kind, version in self._schemas}

    def cel_rules(self) -> Iterator[tuple[str, str, str, Mapping[str, Any]]]:
        """Every x-kubernetes-validations rule as (apiVersion, kind, schema path, rule)."""

        def walk(node: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
            if isinstance(node, Mapping):
                for rule in node.get("x-kubernetes-validations", []):
                    yield where, rule
                for key, child in node.items():
                    yield from walk(child, f"{where}/{key}")
            elif isinstance(node, list):
                for index, child in enumerate(node):
                    yield from walk(child, f"{where}/{index}")

        for (group, kind, version), schema in self._schemas.items():
            for where, rule in walk(schema, ""):
                yield f"{group}/{version}", kind, where or "/", rule

    def validate(self, obj: dict) -> list[ValidationError]:
        """Schema, metadata and CEL findings for one Istio object (empty when valid)."""
        resource = _resource_name(obj)
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        group, _, version = api_version.rpartition("/")
        key = (group, kind, version)
        if key not in self._schemas:
            message = (
                f"unknown Istio kind {kind!r} in {api_version!r} (not in {self.crd_path.name})"
            )
            return [ValidationError(resource, "apiVersion", message)]
        errors = list(self._validator(key).iter_errors(obj))
        findings = _findings(resource, errors) + _metadata_findings(resource, obj)
        if any(e.validator in _TYPE_KEYWORDS for e in errors):
            # as the API server: CEL only runs on well-typed objects
            note = "validation rules were not checked because the object has type errors"
            return findings + [ValidationError(resource, "", note)]
        # from the root, so rules declared on the whole object would see it whole too
        findings += [
            ValidationError(resource, _format_path(path), message)
            for path, message in _walk_rules(self._schemas[key], obj, ())
        ]
        return findings

    def _validator(self, key: tuple[str, str, str]) -> jsonschema.protocols.Validator:
        if key not in self._validators:
            root = _root_schema(self._schemas[key])
            self._validators[key] = _StructuralValidator(root, format_checker=_FORMAT_CHECKER)
        return self._validators[key]


def _metadata_findings(resource: str, obj: Mapping[str, Any]) -> list[ValidationError]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return [ValidationError(resource, "metadata", 'missing required field "metadata"')]
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return [ValidationError(resource, "metadata.name", 'missing required field "name"')]
    return []


# ------------------------------------------------------------------------- built-in kinds

_KV_SCHEMAS = "kubernetes-json-schema"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


@functools.cache
def _builtin_schema_dir(kubernetes_version: str) -> Traversable:
    """kubernetes-validate's strict schema folder for the newest version <= the one asked."""
    root = importlib.resources.files("kubernetes_validate") / _KV_SCHEMAS
    shipped = {
        _version_key(entry.name): entry
        for entry in root.iterdir()
        if re.fullmatch(r"v[\d.]+-local-strict", entry.name)
    }
    wanted = _version_key(kubernetes_version)
    usable = [v for v in shipped if v <= wanted]
    if not usable:
        have = ", ".join(".".join(map(str, v)) for v in sorted(shipped))
        raise ValueError(
            f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version} (has {have})"
        )
    return shipped[max(usable)]


@functools.cache
def _builtin_registry(kubernetes_version: str) -> Registry:
    folder = _builtin_schema_dir(kubernetes_version)
    definitions = Resource.from_contents(json.loads((folder / "_definitions.json").read_text()))
    return Registry().with_resource(definitions.id() or "", definitions)


@functools.cache
def _builtin_validator(
    kubernetes_version: str, api_version: str, kind: str
) -> jsonschema.protocols.Validator | None:
    """The same file, draft and registry that ``kubernetes_validate.validate`` uses, built once.

    Calling ``kubernetes_validate.validate`` instead would re-read 1.2 MB of definitions per
    object (about 8 ms) and stop at the first error.
    """
    # rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1 (kubernetes-validate's file naming)
    slug = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_file = _builtin_schema_dir(kubernetes_version) / f"{kind.lower()}-{slug}.json"
    if not schema_file.is_file():
        return None
    schema = json.loads(schema_file.read_text())
    registry = _builtin_registry(kubernetes_version)
    root = Resource.from_contents(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry.with_resource(root.id() or "", root))


def validate_builtin(
    obj: dict, *, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
) -> list[ValidationError]:
    """Strict-mode findings for a built-in Kubernetes object (kubernetes-validate's schemas)."""
    resource = _resource_name(obj)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [ValidationError(resource, "", "apiVersion and kind must be set")]
    validator = _builtin_validator(kubernetes_version, api_version, kind)
    if validator is None:
        message = f"no schema for {kind} in {api_version} (Kubernetes {kubernetes_version})"
        return [ValidationError(resource, "apiVersion", message)]
    return _findings(resource, validator.iter_errors(obj)) + _metadata_findings(resource, obj)


# ----------------------------------------------------------------------------- manifests


@functools.lru_cache(maxsize=8)
def _istio_validator(crd_path: Path) -> IstioSchemaValidator:
    return IstioSchemaValidator(crd_path)


def _is_istio(obj: Mapping[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group == "istio.io" or group.endswith(".istio.io")


def validate_manifests(
    objects: Iterable[dict],
    *,
    crd_path: str | Path | None = None,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
) -> list[ValidationError]:
    """Findings for every object: *.istio.io kinds against the CRD bundle (one validator per
    bundle path, cached; ``default_crd_path()`` if not given), the rest via ``validate_builtin``."""
    path = Path(crd_path) if crd_path is not None else default_crd_path()
    findings: list[ValidationError] = []
    for obj in objects:
        if not isinstance(obj, dict):
            findings.append(
                ValidationError("<not an object>", "", f"expected a mapping, got {_json_type(obj)}")
            )
        elif _is_istio(obj):
            findings += _istio_validator(path.resolve()).validate(obj)
        else:
            findings += validate_builtin(obj, kubernetes_version=kubernetes_version)
    return findings
