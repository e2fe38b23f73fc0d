"""What each proxy of the mesh receives from a set of manifests, by istiod's visibility rules.

A sidecar in namespace N gets an outbound cluster per port of every Service exported to N
(Service annotation `networking.istio.io/exportTo`; absent means `*`), plus one per subset of
each DestinationRule exported to N, and a virtual host per HTTP Service port and per host of a
VirtualService bound to `mesh` and exported to N. A namespace-wide `Sidecar` in N narrows all of
that to its egress hosts (`<namespace>/<host>`). Gateways ignore Sidecars (istiod gives them the
namespace's default scope, PushContext.getSidecarScope) and get, besides the clusters, the
routes of VirtualServices bound to a Gateway that selects their pods, for the server hosts the
VirtualService's namespace may use (`ns/host`, `./host`, bare host = `*/host`). istiod's
defaults are assumed (mesh-wide exportTo `*`, PILOT_SCOPE_GATEWAY_TO_NAMESPACE and
PILOT_FILTER_GATEWAY_CLUSTER_CONFIG off); static clusters (BlackHole, Passthrough, inbound) are
not counted.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

EXPORT_TO = "networking.istio.io/exportTo"
HTTP_PREFIXES = ("http", "http2", "grpc", "grpc-web")


@dataclass(frozen=True)
class Proxy:
    """A proxy asking istiod for configuration: its namespace, pod labels and kind."""

    namespace: str
    labels: tuple[tuple[str, str], ...] = ()
    gateway: bool = False


@dataclass(frozen=True)
class Received:
    """What one proxy receives: outbound clusters, virtual hosts and HTTP routes (and those from `namespaces`)."""

    clusters: int
    virtual_hosts: int
    routes: int
    foreign_clusters: int = 0  # clusters for Services of the namespaces asked about
    foreign_routes: int = 0  # routes written by VirtualServices of those namespaces


def _namespace(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("namespace", "default"))


def exported(export_to: Sequence[str] | None, own: str, proxy_namespace: str) -> bool:
    """istiod's exportTo: `*` (or nothing) everyone, `.` the object's namespace, `~` nobody, else by name."""
    targets = list(export_to or ["*"])
    return "*" in targets or proxy_namespace in targets or ("." in targets and own == proxy_namespace)


def _service_export(service: Mapping[str, Any]) -> list[str] | None:
    value = (service["metadata"].get("annotations") or {}).get(EXPORT_TO, "")
    return [v.strip() for v in value.split(",") if v.strip()] or None


def _fqdn(service: Mapping[str, Any], domain: str) -> str:
    return f"{service['metadata']['name']}.{_namespace(service)}.svc.{domain}"


def _egress(objects: Iterable[Mapping[str, Any]], proxy: Proxy) -> list[tuple[str, str]] | None:
    """The (namespace, host) egress patterns of the proxy's namespace-wide Sidecar, or None (no Sidecar)."""
    if proxy.gateway:
        return None
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj["kind"] == "Sidecar" and _namespace(obj) == proxy.namespace and not spec.get("workloadSelector"):
            hosts = [h for e in spec.get("egress") or [] for h in e.get("hosts") or []]
            return [(proxy.namespace if ns == "." else ns, host) for ns, _, host in (h.partition("/") for h in hosts)]
    return None


def _in_egress(egress: list[tuple[str, str]] | None, namespace: str, host: str) -> bool:
    if egress is None:
        return True
    return any(ns in ("*", namespace) and fnmatchcase(host, pattern) for ns, pattern in egress)


def _service_visible(svc: Mapping[str, Any], proxy: Proxy, domain: str, egress: list[tuple[str, str]] | None) -> bool:
    own = _namespace(svc)
    return exported(_service_export(svc), own, proxy.namespace) and _in_egress(egress, own, _fqdn(svc, domain))


def _clusters(objects: Sequence[Mapping[str, Any]], proxy: Proxy, domain: str,
              egress: list[tuple[str, str]] | None) -> dict[str, int]:
    """Clusters per visible Service host: one per port, plus one per port and DestinationRule subset."""
    out: dict[str, int] = {}
    ports: dict[str, int] = {}
    for svc in (o for o in objects if o["kind"] == "Service"):
        host = _fqdn(svc, domain)
        if _service_visible(svc, proxy, domain, egress):
            ports[host] = len((svc.get("spec") or {}).get("ports") or [])
            out[host] = ports[host]
    for rule in (o for o in objects if o["kind"] == "DestinationRule"):
        spec = rule.get("spec") or {}
        host = str(spec.get("host", ""))
        if host in ports and exported(spec.get("exportTo"), _namespace(rule), proxy.namespace):
            out[host] += ports[host] * len(spec.get("subsets") or [])
    return out


def _mesh_routes(objects: Sequence[Mapping[str, Any]], proxy: Proxy, domain: str,
                 egress: list[tuple[str, str]] | None) -> dict[str, tuple[str, int]]:
    """Virtual hosts of a sidecar: host -> (namespace of the config, routes); VirtualServices win over defaults."""
    vhosts: dict[str, tuple[str, int]] = {}
    for svc in (o for o in objects if o["kind"] == "Service"):
        host = _fqdn(svc, domain)
        http = [p for p in (svc.get("spec") or {}).get("ports") or [] if _is_http(p)]
        if http and _service_visible(svc, proxy, domain, egress):
            vhosts[host] = (_namespace(svc), 1)
    for vs in (o for o in objects if o["kind"] == "VirtualService"):
        spec = vs.get("spec") or {}
        if "mesh" not in (spec.get("gateways") or ["mesh"]):
            continue
        if not exported(spec.get("exportTo"), _namespace(vs), proxy.namespace):
            continue
        for host in spec.get("hosts") or []:
            if _in_egress(egress, _namespace(vs), host):
                vhosts[host] = (_namespace(vs), len(spec.get("http") or []))
    return vhosts


def _is_http(port: Mapping[str, Any]) -> bool:
    name = str(port.get("appProtocol") or port.get("name") or "").lower()
    return name.split("-")[0] in HTTP_PREFIXES


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _server_admits(pattern: str, gateway_namespace: str, vs_namespace: str, host: str) -> bool:
    """A Gateway server host (`ns/host`, `./host`, `*/host` or bare) admits `host` of a VirtualService in vs_namespace."""
    ns, _, name = pattern.rpartition("/")
    ns = {"": "*", ".": gateway_namespace}.get(ns, ns)
    return ns in ("*", vs_namespace) and (fnmatchcase(host, name) or fnmatchcase(name, host))


def _gateway_routes(objects: Sequence[Mapping[str, Any]], proxy: Proxy) -> dict[str, tuple[str, int]]:
    """Virtual hosts of a gateway: per host of a bound, exported VirtualService its Gateway's servers admit."""
    labels = dict(proxy.labels)
    gateways = {f"{_namespace(g)}/{g['metadata']['name']}": g for g in objects
                if g["kind"] == "Gateway" and _selects((g.get("spec") or {}).get("selector") or {}, labels)}
    vhosts: dict[str, tuple[str, int]] = {}
    for vs in (o for o in objects if o["kind"] == "VirtualService"):
        spec, ns = vs.get("spec") or {}, _namespace(vs)
        if not exported(spec.get("exportTo"), ns, proxy.namespace):
            continue
        for ref in spec.get("gateways") or []:
            gateway = gateways.get(ref if "/" in ref else f"{ns}/{ref}")
            servers = ((gateway or {}).get("spec") or {}).get("servers") or []
            for host in spec.get("hosts") or []:
                if any(_server_admits(p, _namespace(gateway or vs), ns, host) for s in servers for p in s.get("hosts") or []):
                    old = vhosts.get(host, (ns, 0))[1]  # istiod merges a host's routes across VirtualServices
                    vhosts[host] = (ns, old + len(spec.get("http") or []))
    return vhosts


def received(objects: Sequence[Mapping[str, Any]], proxy: Proxy, *, namespaces: Iterable[str] = (),
             domain: str = "cluster.local") -> Received:
    """What `proxy` receives from `objects`; `foreign_*` count what comes from `namespaces`."""
    watched = set(namespaces)
    egress = _egress(objects, proxy)
    clusters = _clusters(objects, proxy, domain, egress)
    vhosts = _gateway_routes(objects, proxy) if proxy.gateway else _mesh_routes(objects, proxy, domain, egress)
    return Received(
        clusters=sum(clusters.values()),
        virtual_hosts=len(vhosts),
        routes=sum(n for _, n in vhosts.values()),
        foreign_clusters=sum(n for host, n in clusters.items() if host.split(".")[1] in watched),
        foreign_routes=sum(n for ns, n in vhosts.values() if ns in watched),
    )


def unscoped(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The same objects without any scoping (no exportTo, no Sidecar): what every proxy got before."""
    out = []
    for obj in objects:
        if obj["kind"] == "Sidecar":
            continue
        spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != "exportTo"}
        annotations = {k: v for k, v in (obj["metadata"].get("annotations") or {}).items() if k != EXPORT_TO}
        obj = {**obj, "metadata": {**obj["metadata"], "annotations": annotations}, "spec": spec}
        out.append(obj)
    return out
