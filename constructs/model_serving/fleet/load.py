"""Loading serving.yaml: YAML → validated Fleet, every user mistake one line naming the fix."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from model_serving.errors import InputError
from model_serving.fleet.base import Spec
from model_serving.fleet.environment import Document
from model_serving.fleet.fleet import Env, Fleet
from model_serving.fleet.model import Model
from model_serving.fleet.rules import check_environments, warnings_for
from model_serving.yamlio import load_config, read_text


class ConfigError(InputError):
    """A mistake in serving.yaml or on the command line; str() is the one-line message."""


def deep_merge(base: Any, override: Any) -> Any:
    """Overlay `override` on `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


_FIXES = {
    "missing": "add it",
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "int_from_float": "use a whole number",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "string_type": "use a string (quote it)",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "dict_type": "use a mapping (key: value)",
    "model_type": "use a mapping (key: value)",
    "model_attributes_type": "use a mapping (key: value)",
    "list_type": "use a list",
    "literal_error": "use one of the allowed values",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number",
    "less_than": "use a smaller number",
    "less_than_equal": "use a smaller number",
    "too_short": "add at least one",
    "too_long": "remove the extra ones",
}
_TAG = re.compile(
    r"^(function-\w+|constrained-\w+|literal|is-instance|lax-\w+|json-or-python|list|dict)\[.*\]$|^(str|int|float|bool|none)$"
)


def _is_tag(item: str) -> bool:
    """Whether a location item names a union member or validator (not a field or key)."""
    return bool(_TAG.match(item)) or item in _spec_names()


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted field path (union branch tags skipped, keys cut short)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item == "[key]":
            parts.append(" (the key)")
        elif not _is_tag(item):
            text = item if len(item) <= 60 else f"{item[:60]}…"
            parts.append(("." if parts else "") + text)
    return "".join(parts)


@cache
def _spec_names() -> frozenset[str]:
    names, stack = set(), list(Spec.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        names.add(cls.__name__)
    return frozenset(names)


def _inner(annotation: Any) -> Any:
    """The Spec class or container inside Optional[...] / Annotated[...] / unions."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        members = [_inner(a) for a in get_args(annotation) if a is not type(None)]
        return next((m for m in members if _is_spec(m) or get_origin(m) in (list, dict)), members[0])
    return annotation


def _is_spec(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Spec)


def _field(cls: type[Spec], key: str) -> FieldInfo | None:
    return next((f for n, f in cls.model_fields.items() if key in (n, f.alias)), None)


def resolve(root: type[Spec], loc: tuple[int | str, ...]) -> tuple[type[Spec] | None, FieldInfo | None]:
    """The class and field an error location ends in (None where the path leaves the schema)."""
    annotation: Any = root
    owner: type[Spec] | None = None
    info: FieldInfo | None = None
    for item in loc:
        annotation = _inner(annotation)
        if _is_spec(annotation):
            if isinstance(item, int) or _is_tag(item):
                continue
            owner, info = annotation, _field(annotation, item)
            if info is None:
                return owner, None
            annotation = info.annotation
        elif get_origin(annotation) in (list, dict) and item != "[key]":
            annotation = get_args(annotation)[-1]
    return owner, info


def _message(error: ErrorDetails, root: type[Spec]) -> str:
    """The error's text with its fix: our validators' own, else one for pydantic's built-in checks."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if "; fix:" in message:
        return message
    kind, field = error["type"], str(error["loc"][-1]) if error["loc"] else ""
    _, info = resolve(root, error["loc"])
    if kind == "extra_forbidden":
        close = _suggestion(error, root)
        hint = f"did you mean {close}? " if close else ""
        return f"unknown field; fix: {hint}remove it or check its spelling"
    about = f" ({field}: {info.description})" if info and info.description else ""
    if kind == "missing":
        return f"missing; fix: add it{about}"
    return f"{message}; fix: {_FIXES.get(kind, 'see the field in serving.schema.json')}{about}"


def _suggestion(error: ErrorDetails, root: type[Spec]) -> str | None:
    """For an unknown key, the known field of the same section it most resembles (a likely misspelling)."""
    owner, _ = resolve(root, error["loc"])
    names = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
    close = difflib.get_close_matches(str(error["loc"][-1]), names, n=1) if error["loc"] else []
    return close[0] if close else None


def _first(errors: list[ErrorDetails]) -> ErrorDetails:
    """The error to show: an unknown key first (a misspelt field also reports the field as missing)."""
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def one_line(source: str, prefix: str, error: ValidationError, root: type[Spec]) -> ConfigError:
    """A pydantic ValidationError as one ConfigError line: file, field path, problem and fix."""
    errors = error.errors(include_url=False, include_input=False)
    first = _first(errors)
    path = _where(first["loc"])
    where = f"{prefix}{'' if not prefix or not path or path.startswith('[') else '.'}{path}" or "(top level)"
    # A misspelt key (`modles`) also leaves the field it meant missing: one mistake, not two.
    meant = _suggestion(first, root) if first["type"] == "extra_forbidden" else None
    same = {first["loc"], (*first["loc"][:-1], meant)}
    others = sum(1 for e in errors if e["loc"] not in same)
    tail = f" (+{others} more)" if others else ""
    return ConfigError(f"{source}: {where}: {_message(first, root)}{tail}")


def _models_of(doc: Document, env_name: str, source: str) -> Iterator[tuple[str, Model]]:
    """Each model as merged with the environment's overrides, validated."""
    env = doc.environments[env_name]
    for model_name, base in doc.models.items():
        merged = deep_merge(base, env.models.get(model_name, {}))
        prefix = f"models.{model_name}"
        if len(doc.environments) > 1 or env.models:
            prefix = f"environments.{env_name} + {prefix}"  # the model as merged with this environment
        try:
            yield model_name, Model.model_validate(merged)
        except ValidationError as error:
            raise one_line(source, prefix, error, Model) from None


def _environment(doc: Document, env_name: str, source: str) -> Env:
    env = doc.environments[env_name]
    return Env(
        name=env_name,
        namespace=env.namespace,
        cluster=env.cluster,
        gateway=env.gateway,
        gateway_name=env.gateway.name or f"{env.namespace}-gateway",
        jwt=env.jwt,
        pod_security=env.pod_security,
        models=dict(_models_of(doc, env_name, source)),
        metrics_from=tuple(env.metrics_from),
        istio_revision=env.istio_revision,
        cluster_domain=env.cluster_domain,
        egress=tuple(env.egress),
        openai=env.openai,
    )


def parse_fleet(data: Any, *, source: str = "serving.yaml") -> Fleet:
    """Validate already-parsed YAML data into a Fleet; raise ConfigError (one line) if invalid."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping with environments and models; fix: see README.md")
    try:
        doc = Document.model_validate(data)
    except ValidationError as error:
        raise one_line(source, "", error, Document) from None
    environments = {name: _environment(doc, name, source) for name in doc.environments}
    problem = check_environments(list(environments.values()))
    if problem:
        raise ConfigError(f"{source}: {problem}")
    warnings = [f"{source}: {w}" for env in environments.values() for w in warnings_for(env)]
    return Fleet(source=source, environments=environments, warnings=warnings, rehearse=list(doc.rehearse))


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate serving.yaml; every user mistake becomes a one-line ConfigError."""
    path = Path(path)
    try:
        data = load_config(read_text(path), source=str(path))
    except InputError as error:
        raise ConfigError(str(error)) from None
    return parse_fleet(data, source=str(path))
