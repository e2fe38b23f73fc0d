"""Listeners the runner can send to, and the HTTP filter chain in istiod's order.

istiod (ListenerBuilder.buildHTTPConnectionManager) builds each HTTP connection manager's filters
as: metadata exchange, CUSTOM authz, TrafficExtensions of phase AUTHN, JWT authn, phase AUTHZ,
RBAC, phase STATS, then unspecified phase, gRPC stats, ALPN, fault, CORS, telemetry, router.
Within a phase, higher `priority` comes first. The rehearsal keeps that order for what it
reproduces: the extension filters by phase, then fault, CORS and router (authn, authz, metadata
exchange and telemetry are not rehearsed). `HttpFilter` is the extension point: a later change
adds, say, a TrafficExtension's Lua by appending HttpFilters (see index.EXTENSION_KINDS).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from model_serving.rehearse.common import typed

FAULT = {"name": "envoy.filters.http.fault", "typed_config": typed("envoy.extensions.filters.http.fault.v3.HTTPFault")}
CORS = {"name": "envoy.filters.http.cors", "typed_config": typed("envoy.extensions.filters.http.cors.v3.Cors")}
ROUTER = {"name": "envoy.filters.http.router", "typed_config": typed("envoy.extensions.filters.http.router.v3.Router")}


class Phase(StrEnum):
    """A TrafficExtension's execution phase, in the order istiod places them."""

    AUTHN = "AUTHN"
    AUTHZ = "AUTHZ"
    STATS = "STATS"
    UNSPECIFIED = "UNSPECIFIED_PHASE"


PHASE_ORDER = (Phase.AUTHN, Phase.AUTHZ, Phase.STATS, Phase.UNSPECIFIED)


@dataclass(frozen=True)
class Entry:
    """A listener of the rehearsal: the mesh side of a Service port, or one gateway server port."""

    name: str  # the Envoy listener's name
    kind: str  # "mesh" or "gateway"
    port: int  # the Service port, or the Gateway server port
    hosts: tuple[str, ...]  # the Host header values it routes
    tls: bool = False  # an HTTPS server: clients believe they speak https (TLS is not rehearsed)
    https_redirect: bool = False  # a port-80 server that answers with a redirect to https

    @property
    def stat_prefix(self) -> str:
        """The connection manager's stat prefix (stats are `http.<prefix>.*`)."""
        return f"{self.kind}_{self.port}"


@dataclass(frozen=True)
class HttpFilter:
    """An extra HTTP filter (a TrafficExtension's Lua, say), placed by phase and priority."""

    name: str
    typed_config: Mapping[str, Any]
    phase: Phase = Phase.UNSPECIFIED
    priority: int | None = None
    on_gateway: bool = True
    on_mesh: bool = False
    ports: frozenset[int] = field(default_factory=frozenset)  # empty: every port

    def applies(self, entry: Entry) -> bool:
        """Whether this filter belongs in the given listener's chain."""
        side = self.on_gateway if entry.kind == "gateway" else self.on_mesh
        return side and (not self.ports or entry.port in self.ports)


def http_filters(entry: Entry, extensions: list[HttpFilter]) -> list[dict[str, Any]]:
    """The filter chain of one listener: extensions by phase (highest priority first, as istiod's
    sortByPriority), then fault, CORS and the router."""
    chosen = [f for f in extensions if f.applies(entry)]
    ordered: list[HttpFilter] = []
    for phase in PHASE_ORDER:
        in_phase = [f for f in chosen if f.phase == phase]
        in_phase.sort(key=lambda f: -(f.priority if f.priority is not None else -(2**31)))
        ordered.extend(in_phase)
    return [*({"name": f.name, "typed_config": dict(f.typed_config)} for f in ordered), FAULT, CORS, ROUTER]
