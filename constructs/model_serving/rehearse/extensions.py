"""TrafficExtension (extensions.istio.io) -> the Envoy HTTP filter istiod builds from it.

istiod 1.30 (pilot/pkg/networking/core/extension: toEnvoyHTTPTrafficExtension, BuildHTTPLuaFilter)
inlines a Lua TrafficExtension as a filter named `extensions.istio.io/trafficextension/<ns>.<name>`
whose typed config is `envoy.extensions.filters.http.lua.v3.Lua` with the code as
`default_source_code.inline_string`; it is placed by `phase`, then `priority` (filters.http_filters).
`match` narrows it by traffic mode (a gateway is CLIENT) and port (TrafficExtensionWrapper.MatchListener).
Only selector-attached Lua on the gateway is rehearsed: Wasm, targetRefs and sidecars are refused.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from model_serving.rehearse.common import refuse, typed, where
from model_serving.rehearse.filters import Entry, HttpFilter, Phase
from model_serving.rehearse.index import EXTENSION_KINDS, Index

NAME_PREFIX = "extensions.istio.io/trafficextension/"
LUA_TYPE = "envoy.extensions.filters.http.lua.v3.Lua"
_SPEC_KEYS = {"selector", "targetRefs", "match", "phase", "priority", "lua", "wasm"}
_PHASES = {"AUTHN": Phase.AUTHN, "AUTHZ": Phase.AUTHZ, "STATS": Phase.STATS, "UNSPECIFIED": Phase.UNSPECIFIED}


@dataclass(frozen=True)
class GatewayLua(HttpFilter):
    """A Lua TrafficExtension on the gateway proxy, which must select the pods of some Gateway."""

    at: str = ""
    match_labels: tuple[tuple[str, str], ...] = ()
    index: Index | None = field(default=None, compare=False, repr=False)

    def applies(self, entry: Entry) -> bool:
        """On gateway listeners (and its ports), once its selector is known to pick a Gateway's pods."""
        if not super().applies(entry):
            return False
        gateways = self.index.gateways.values() if self.index is not None else []
        labels = dict(self.match_labels)
        if not any(labels.items() <= dict((g.get("spec") or {}).get("selector") or {}).items() for g in gateways):
            raise refuse(f"{self.at}: spec.selector", "it selects no Gateway's pods, and extensions on sidecars "
                         "are not rehearsed", "select the gateway pods by (a subset of) a Gateway's selector")
        return True


def collect(obj: dict[str, Any], index: Index) -> None:
    """Index one TrafficExtension as the HTTP filter istiod would build (EXTENSION_KINDS collector)."""
    at = where(obj)
    meta, spec = obj["metadata"], obj.get("spec") or {}
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise refuse(f"{at}: spec.{unknown[0]}", "not translated by the rehearsal")
    if spec.get("wasm") is not None or spec.get("lua") is None:
        raise refuse(f"{at}: spec.wasm", "Wasm extensions are not rehearsed (only inline Lua)")
    if spec.get("targetRefs"):
        raise refuse(f"{at}: spec.targetRefs", "targetRefs attachment is not rehearsed", "use spec.selector")
    ports, runs_on_gateway = _match(spec.get("match") or [], at)
    if not runs_on_gateway:
        index.note(f"{at}: matches SERVER traffic only, which a gateway never has: not placed")
        return
    index.extensions.append(GatewayLua(
        name=f"{NAME_PREFIX}{meta.get('namespace', 'default')}.{meta['name']}",
        typed_config=typed(LUA_TYPE, default_source_code={"inline_string": str(spec["lua"]["inlineCode"])}),
        phase=_PHASES.get(str(spec.get("phase") or "UNSPECIFIED"), Phase.UNSPECIFIED),
        priority=spec.get("priority"),
        ports=ports, at=at,
        match_labels=tuple(sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())),
        index=index,
    ))
    index.note("TrafficExtension: its Lua runs in the rehearsal gateway; its namespace scope is not checked")


def _match(matches: list[Mapping[str, Any]], at: str) -> tuple[frozenset[int], bool]:
    """The ports a gateway runs it on (empty: all), and whether any match admits a gateway (CLIENT mode)."""
    if not matches:
        return frozenset(), True
    ports: set[int] = set()
    gateway = False
    for i, match in enumerate(matches):
        if set(match) - {"mode", "ports"}:
            raise refuse(f"{at}: spec.match[{i}]", "only mode and ports are translated")
        if str(match.get("mode") or "UNDEFINED") == "SERVER":
            continue
        gateway = True
        if not match.get("ports"):
            return frozenset(), True
        ports.update(int(p["number"]) for p in match["ports"])
    return frozenset(ports), gateway


def register() -> None:
    """Register the TrafficExtension translation with the index (idempotent)."""
    EXTENSION_KINDS["TrafficExtension"] = collect


def routing_headers(body: bytes | None, *, model_header: str, stream_header: str) -> tuple[tuple[str, str], ...]:
    """The headers the router Lua derives from a JSON body, for a run without the Lua (a baseline)."""
    try:
        data = json.loads(body or b"")
    except ValueError:
        return ()
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        return ()
    stream = ((stream_header, "true"),) if data.get("stream") is True else ()
    return ((model_header, data["model"]), *stream)

