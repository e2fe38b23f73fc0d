"""One OpenAI-compatible host for many models: the config, and which name reaches which model.

Clients name the model in the JSON body (`{"model": "llama-3-8b", ...}`). A Lua filter on the
gateway copies that field into a header (MODEL_HEADER) and the host's VirtualService matches the
header exactly, so every served name must lead to one model only.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

from pydantic import AfterValidator, Field, field_validator

from model_serving.errors import shown
from model_serving.fleet.base import Host, Spec
from model_serving.units import parse_quantity

MODEL_HEADER = "x-model-serving-model"
STREAM_HEADER = "x-model-serving-stream"
# Envoy's default per_connection_buffer_limit_bytes, which istiod leaves as it is on gateway
# listeners: a body buffered past it gets Envoy's own plain-text 413 before the Lua can answer.
ENVOY_BUFFER_LIMIT = 1024 * 1024
# What the Lua filter passes on as a model name; anything else cannot be a served name (404).
SERVED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")


def _served_name(value: str) -> str:
    if not SERVED_NAME.match(value):
        raise ValueError(f"{shown(value)} is not a servable model name; fix: use letters, digits and . _ : / - "
                         "(at most 200, starting with a letter or digit)")
    return value


ServedName = Annotated[str, AfterValidator(_served_name)]


class OpenAi(Spec):
    """An OpenAI-compatible host on the fleet's gateway: POST /v1/* is routed by the body's `model`."""

    host: Host = Field(description="The host clients use as base URL (https://<host>/v1); one of the gateway's hosts.")
    body_limit: str = Field(
        "1Mi", description="The largest request body the gateway buffers to read `model` (at most 1Mi); larger: 413."
    )

    @field_validator("body_limit")
    @classmethod
    def _limit(cls, value: str) -> str:
        try:
            size = parse_quantity(value)
        except ValueError:
            size = -1.0
        if not 0 < size <= ENVOY_BUFFER_LIMIT:
            raise ValueError(f"bodyLimit {shown(value)} is not a size from 1 to 1Mi (Envoy's buffer limit); "
                             "fix: e.g. 256Ki or 1Mi")
        return value

    @property
    def body_limit_bytes(self) -> int:
        """The limit in bytes."""
        return int(parse_quantity(self.body_limit))


class Named(Protocol):
    """What served_names reads of a model (fleet.model.Model, which imports this module)."""

    @property
    def served_names(self) -> Sequence[str]: ...

    @property
    def adapters(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class ServedAs:
    """One name the OpenAI host answers to: the model it reaches, and whether it is a LoRA adapter."""

    name: str
    model: str
    adapter: bool = False


def served_names(models: Mapping[str, Named]) -> list[ServedAs]:
    """Every name of every model, sorted: its own name, its `servedNames`, then its `adapters`.

    Raises ValueError (`<field>: <what>; fix: <how>`) when two models, or one model twice, claim a name.
    """
    out: list[ServedAs] = []
    owner: dict[str, str] = {}
    for model_name, model in sorted(models.items()):
        names = [(model_name, False, model_name), *((n, False, "servedNames") for n in model.served_names),
                 *((n, True, "adapters") for n in model.adapters)]
        for name, adapter, field in names:
            if name in owner:
                where = f"models.{model_name}.{field}" if field != model_name else f"models.{model_name}"
                raise ValueError(f"{where}: served name {name!r} is already a name of model {owner[name]}; "
                                 "fix: give every model, served name and adapter a name of its own")
            owner[name] = model_name
            out.append(ServedAs(name, model_name, adapter))
    return out
