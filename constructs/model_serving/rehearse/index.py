"""The synthesized objects, indexed the way istiod's push context sees them.

Services by FQDN, DestinationRules by host, VirtualServices with their gateway names resolved,
Gateways by `namespace/name`, and one `Replica` per pod a Deployment (or its HPA) would run.
Kinds that shape traffic but are not rehearsed are refused here; kinds the proxy never sees
(RBAC, PDBs, ...) are passed over, and the ones that matter on a real cluster leave a note.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from model_serving.rehearse.common import TranslationError, fqdn, refuse, where
from model_serving.rehearse.filters import HttpFilter

MESH = "mesh"
MTLS_NOTE = "mTLS (PeerAuthentication, DestinationRule ISTIO_MUTUAL) is not rehearsed: plain HTTP on loopback"
_HTTP_PROTOCOLS = {"http": "http", "http2": "http2", "grpc": "grpc", "grpc-web": "http2", "h2c": "http2",
                   "kubernetes.io/h2c": "http2"}
_TCP_PROTOCOLS = {"tcp", "tls", "https", "mongo", "mysql", "redis", "udp", "kubernetes.io/ws", "kubernetes.io/wss"}
# Kinds that change what a proxy does, but that the rehearsal does not reproduce.
_REFUSED = {
    "EnvoyFilter": "patches istiod's output, which the rehearsal does not generate",
    "ServiceEntry": "external services are not stood in",
    "WorkloadEntry": "workload entries are not stood in",
    "WorkloadGroup": "workload groups are not stood in",
    "WasmPlugin": "Wasm plugins are not rehearsed",
    "Telemetry": "telemetry is not rehearsed",
    "ProxyConfig": "proxy configuration is not rehearsed",
    "StatefulSet": "only Deployments get stand-ins",
    "DaemonSet": "only Deployments get stand-ins",
    "Pod": "only Deployments get stand-ins",
}
# Kinds the proxies enforce on a real cluster; the rehearsal admits every request.
_NOT_REHEARSED = {
    # Accepted, not refused: the rehearsal's caller sees every host, and the stand-ins are called
    # directly, with no pod-side proxy whose inbound connection pool a Sidecar would set.
    "Sidecar": "Sidecar scoping and inbound connection pools are not rehearsed",
    "AuthorizationPolicy": "authorization is not rehearsed (every request is admitted)",
    "RequestAuthentication": "JWT validation is not rehearsed (requests need no token)",
    "PeerAuthentication": "",
    "NetworkPolicy": "network policies are not rehearsed (everything is on loopback)",
}


@dataclass(frozen=True)
class Replica:
    """One pod a Deployment would run, stood in by one server."""

    namespace: str
    deployment: str
    index: int
    labels: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """The pod-like name the stand-in answers with (`x-replica`)."""
        return f"{self.deployment}-{self.index}"

    @property
    def key(self) -> str:
        """A unique key: `namespace/deployment-index`."""
        return f"{self.namespace}/{self.name}"

    @property
    def model(self) -> str:
        """The `app` label (the model), else the Deployment's name."""
        return dict(self.labels).get("app", self.deployment)

    @property
    def version(self) -> str:
        """The `version` label, else the Deployment's name."""
        return dict(self.labels).get("version", self.deployment)

    def selected_by(self, selector: Mapping[str, str]) -> bool:
        """Whether a label selector (Service selector, subset labels) picks this pod."""
        labels = dict(self.labels)
        return all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class ServicePort:
    """One port of a Service, with the protocol istiod infers for it."""

    number: int
    name: str
    protocol: str  # http | http2 | grpc | auto (sniffed) | tcp

    @property
    def is_http(self) -> bool:
        """Whether the sidecar routes it as HTTP (explicitly, or after sniffing)."""
        return self.protocol != "tcp"


@dataclass(frozen=True)
class Service:
    """A Kubernetes Service as the mesh sees it."""

    host: str
    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...]
    ports: tuple[ServicePort, ...]

    def port(self, number: int) -> ServicePort | None:
        """The port with this number, if the Service has it."""
        return next((p for p in self.ports if p.number == number), None)


@dataclass
class Index:
    """Everything the translation looks up, built once from the objects."""

    services: dict[str, Service] = field(default_factory=dict)
    destination_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    virtual_services: list[dict[str, Any]] = field(default_factory=list)
    gateways: dict[str, dict[str, Any]] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    extensions: list[HttpFilter] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Record something accepted but not reproduced (once)."""
        if text not in self.notes:
            self.notes.append(text)

    def endpoints(self, service: Service, subset_labels: Mapping[str, str] | None = None) -> list[Replica]:
        """The pods behind a Service, narrowed to a subset's labels."""
        return [r for r in self.replicas if r.namespace == service.namespace and r.selected_by(dict(service.selector))
                and r.selected_by(subset_labels or {})]


# Kinds whose objects become HTTP filters (e.g. a TrafficExtension's Lua): kind -> collector. A
# collector gets the object and the index and appends HttpFilters to `index.extensions`; the
# listeners then place them in istiod's order (filters.http_filters).
EXTENSION_KINDS: dict[str, Callable[[dict[str, Any], Index], None]] = {}


def build_index(objects: Iterable[Mapping[str, Any]]) -> Index:
    """Index the objects; refuse kinds that would change traffic but are not rehearsed."""
    index = Index()
    items = [dict(o) for o in objects if o]
    hpas = {(o["metadata"].get("namespace", "default"), o["spec"]["scaleTargetRef"]["name"]): o
            for o in items if o.get("kind") == "HorizontalPodAutoscaler"
            and o["spec"].get("scaleTargetRef", {}).get("kind") == "Deployment"}
    for obj in items:
        _add(index, obj, hpas)
    _drop_gateway_services(index, [o for o in items if _is_gateway_deployment(o)])
    return index


def _is_gateway_deployment(obj: Mapping[str, Any]) -> bool:
    """Ingress gateway pods (Istio's `gateway` injection template): the rehearsal's gateway proxy plays them."""
    template = (obj.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return obj.get("kind") == "Deployment" and annotations.get("inject.istio.io/templates") == "gateway"


def _drop_gateway_services(index: Index, gateways: list[dict[str, Any]]) -> None:
    """The Services in front of gateway pods carry client traffic into the gateway, not mesh routes."""
    for gateway in gateways:
        namespace = gateway["metadata"].get("namespace", "default")
        labels = gateway["spec"]["template"]["metadata"].get("labels") or {}
        for host, service in list(index.services.items()):
            if service.namespace == namespace and service.selector and all(labels.get(k) == v for k, v in service.selector):
                del index.services[host]
        index.note("gateway Deployments: played by the one rehearsal gateway proxy (no stand-ins)")


def _sidecar(index: Index, obj: dict[str, Any]) -> None:
    """A Sidecar that keeps its own namespace visible changes no rehearsed route: egress scoping,
    and a pod's inbound connection pool (the rehearsal has no pod-side proxy), are noted instead."""
    spec = obj.get("spec") or {}
    hosts = [h for e in spec.get("egress") or [] for h in e.get("hosts") or []]
    known = {"egress", "workloadSelector", "inboundConnectionPool"}
    if set(spec) - known or any(set(e) != {"hosts"} for e in spec.get("egress") or []) or "./*" not in hosts:
        raise refuse(where(obj), "Sidecar: only egress host lists that keep `./*` (and an inbound connection pool) are rehearsed")
    index.note("Sidecar egress scoping is not rehearsed (every rehearsed Service stays visible)")
    if "inboundConnectionPool" in spec:
        index.note("Sidecar inboundConnectionPool (per-pod concurrency) is not rehearsed: no pod-side proxy")


def _add(index: Index, obj: dict[str, Any], hpas: Mapping[tuple[str, str], dict[str, Any]]) -> None:
    kind = obj.get("kind", "")
    group = str(obj.get("apiVersion", "")).split("/")[0]
    if kind in EXTENSION_KINDS:
        EXTENSION_KINDS[kind](obj, index)
    elif kind == "Service":
        service = _service(obj)
        index.services[service.host] = service
    elif kind == "Deployment" and not _is_gateway_deployment(obj):
        index.replicas.extend(_replicas(obj, hpas))
    elif kind == "Sidecar" and group == "networking.istio.io":
        _sidecar(index, obj)
    elif kind == "DestinationRule":
        _add_destination_rule(index, obj)
    elif kind == "VirtualService":
        index.virtual_services.append(_resolved_virtual_service(obj))
    elif kind == "Gateway" and group == "networking.istio.io":
        meta = obj["metadata"]
        index.gateways[f"{meta.get('namespace', 'default')}/{meta['name']}"] = obj
    elif kind in _REFUSED:
        raise refuse(where(obj), f"{kind}: {_REFUSED[kind]}")
    elif kind in _NOT_REHEARSED:
        index.note(f"{kind}: {_NOT_REHEARSED[kind]}" if _NOT_REHEARSED[kind] else MTLS_NOTE)
    elif group.endswith("istio.io") or group == "gateway.networking.k8s.io":
        raise refuse(where(obj), f"{kind} ({group}) is not translated by the rehearsal")


def _service(obj: dict[str, Any]) -> Service:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    namespace = meta.get("namespace", "default")
    if spec.get("type") == "ExternalName":
        raise refuse(where(obj), "spec.type ExternalName: external services are not stood in")
    ports = tuple(_service_port(p) for p in spec.get("ports") or [])
    return Service(host=fqdn(meta["name"], namespace), namespace=namespace, name=meta["name"],
                   selector=tuple(sorted((spec.get("selector") or {}).items())), ports=ports)


def _service_port(port: Mapping[str, Any]) -> ServicePort:
    """istiod's protocol for a port: appProtocol first, then the port name's prefix, else sniffed."""
    name = str(port.get("name", ""))
    for candidate in (str(port.get("appProtocol", "")).lower(), name.lower().split("-")[0]):
        if candidate in _HTTP_PROTOCOLS:
            return ServicePort(int(port["port"]), name, _HTTP_PROTOCOLS[candidate])
        if candidate in _TCP_PROTOCOLS:
            return ServicePort(int(port["port"]), name, "tcp")
    if str(port.get("protocol", "TCP")).upper() != "TCP":
        return ServicePort(int(port["port"]), name, "tcp")
    return ServicePort(int(port["port"]), name, "auto")


def _replicas(obj: dict[str, Any], hpas: Mapping[tuple[str, str], dict[str, Any]]) -> list[Replica]:
    """One Replica per pod: spec.replicas, else (an HPA manages it) the HPA's minReplicas, else 1."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    namespace = meta.get("namespace", "default")
    count = spec.get("replicas")
    if count is None:
        hpa = hpas.get((namespace, meta["name"]))
        count = (hpa["spec"].get("minReplicas", 1) if hpa else 1)
    labels = tuple(sorted(((spec.get("template") or {}).get("metadata") or {}).get("labels", {}).items()))
    return [Replica(namespace, meta["name"], i, labels) for i in range(int(count))]


def _add_destination_rule(index: Index, obj: dict[str, Any]) -> None:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    host = fqdn(spec["host"], meta.get("namespace", "default"))
    if host in index.destination_rules:
        # istiod merges several rules for one host only in narrow cases; one rule per host here.
        raise refuse(where(obj), f"a second DestinationRule for host {host}", "keep one DestinationRule per host")
    if spec.get("workloadSelector"):
        raise refuse(f"{where(obj)}: spec.workloadSelector", "rules for selected workloads only are not rehearsed")
    index.destination_rules[host] = obj


def _resolved_virtual_service(obj: dict[str, Any]) -> dict[str, Any]:
    """A VirtualService with its gateway names as istiod resolves them: `namespace/name`, or `mesh`;
    no `gateways` at all means `mesh` (resolveVirtualServiceShortnames)."""
    namespace = obj["metadata"].get("namespace", "default")
    spec = dict(obj.get("spec") or {})
    spec["gateways"] = [resolve_gateway(g, namespace) for g in spec.get("gateways") or [MESH]]
    http = []
    for route in spec.get("http") or []:
        route = dict(route)
        if route.get("match"):
            route["match"] = [
                {**m, "gateways": [resolve_gateway(g, namespace) for g in m["gateways"]]} if m.get("gateways") else m
                for m in route["match"]
            ]
        http.append(route)
    spec["http"] = http
    return {**obj, "spec": spec}


def resolve_gateway(name: str, namespace: str) -> str:
    """A VirtualService's gateway reference as `namespace/name` (or `mesh`)."""
    if name == MESH or "/" in name:
        return name
    if "." in name:  # name.namespace[.svc.cluster.local]
        parts = name.split(".")
        return f"{parts[1]}/{parts[0]}"
    return f"{namespace}/{name}"


def check_known(index: Index) -> None:
    """Nothing to rehearse at all is a mistake worth one clear line."""
    if not index.virtual_services and not index.services:
        raise TranslationError("manifests: no Service or VirtualService to rehearse; fix: pass synthesized output")
