"""Istio objects (plain dicts, as loaded from the YAML) -> a static Envoy bootstrap on loopback.

It follows what istiod 1.30 generates for two proxies at once:

- **mesh**: a sidecar's outbound HTTP listener per Service port; VirtualServices bound to `mesh`
  (explicitly, or by having no `gateways`) give each Service's virtual host its routes, and a
  Service without one gets istiod's default route. The sidecar sits in the fleet's namespace, so
  the Host may be the FQDN, `name.ns`, `name.ns.svc` or the short name.
- **gateway**: one listener per Gateway server port; virtual hosts from the VirtualServices bound
  to that Gateway, for the hosts both sides name. HTTPS servers are served as plain HTTP (TLS is
  not rehearsed); `httpsRedirect` servers answer with the redirect.

Every listener and admin port is ephemeral (port 0); `Translation.bootstrap` fills in the
stand-ins' ports. Durations from the manifests are multiplied by `time_scale`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from model_serving.rehearse.clusters import (
    build_clusters,
    cluster_name,
    consistent_hash,
    hash_policy,
)
from model_serving.rehearse.common import (
    Scale,
    TranslationError,
    fqdn,
    host_matches,
    intersect_hosts,
    only,
    refuse,
    typed,
    where,
)
from model_serving.rehearse.extensions import register as register_extensions
from model_serving.rehearse.filters import Entry, HttpFilter, http_filters
from model_serving.rehearse.index import (
    MESH,
    Index,
    Replica,
    Service,
    build_index,
    check_known,
)
from model_serving.rehearse.routes import (
    RouteContext,
    build_routes,
    is_catch_all,
    retry_policy,
)

__all__ = ["Entry", "HttpFilter", "Replica", "TranslateOptions", "Translation", "TranslationError", "translate"]

_SERVER_KEYS = {"port", "hosts", "tls", "name", "bind", "defaultEndpoint"}
_TLS_KEYS = {"httpsRedirect", "mode", "credentialName", "credentialNames", "minProtocolVersion", "maxProtocolVersion",
             "cipherSuites", "serverCertificate", "privateKey", "caCertificates", "subjectAltNames",
             "verifyCertificateSpki", "verifyCertificateHash", "caCrl"}


@dataclass(frozen=True)
class TranslateOptions:
    """Knobs of a translation: the time scale, extra HTTP filters, the calling sidecar's namespace."""

    time_scale: float = 1.0
    http_filters: tuple[HttpFilter, ...] = ()
    caller_namespace: str | None = None  # default: the namespace most Services live in


@dataclass
class Translation:
    """Listeners and clusters for one rehearsal; `bootstrap` binds them to the stand-ins' ports."""

    listeners: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    members: dict[str, list[str]]  # cluster name -> replica keys of its endpoints
    entries: list[Entry]
    replicas: list[Replica]
    services: dict[str, Service] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def bootstrap(self, ports: Mapping[str, int], *, node_id: str = "rehearsal") -> dict[str, Any]:
        """The complete static bootstrap, with each replica's endpoint at 127.0.0.1:<its port>."""
        clusters = []
        for cluster in self.clusters:
            endpoints = [{"endpoint": {"address": _address(ports[key])}} for key in self.members.get(cluster["name"], [])]
            clusters.append({**cluster, "load_assignment": {"cluster_name": cluster["name"],
                                                            "endpoints": [{"lb_endpoints": endpoints}] if endpoints else []}})
        return {"node": {"id": node_id, "cluster": "rehearsal"},
                "admin": {"address": _address(0)},
                "static_resources": {"listeners": self.listeners, "clusters": clusters}}

    def entry(self, kind: str, *, port: int | None = None, host: str | None = None) -> Entry:
        """The listener of `kind` for a port or a host (for a host, HTTPS servers first)."""
        found = [e for e in self.entries if e.kind == kind and (port is None or e.port == port)
                 and (host is None or any(host_matches(h, host.lower()) for h in e.hosts))]
        found.sort(key=lambda e: (not e.tls, e.https_redirect, e.port))
        if not found:
            raise TranslationError(f"no {kind} listener for {host or ''}{f' port {port}' if port else ''}")
        return found[0]


def translate(objects: Iterable[Mapping[str, Any]], options: TranslateOptions = TranslateOptions()) -> Translation:
    """Translate synthesized objects; raise TranslationError (one line) for anything not rehearsed."""
    register_extensions()  # TrafficExtension -> its Lua filter (index.EXTENSION_KINDS)
    index = build_index(objects)
    check_known(index)
    index.extensions.extend(options.http_filters)
    scale = Scale(options.time_scale)
    clusters, members = build_clusters(index, scale)
    caller = options.caller_namespace or _main_namespace(index)
    listeners: list[dict[str, Any]] = []
    entries: list[Entry] = []
    for entry, route_config in [*_mesh(index, scale, caller), *_gateways(index, scale)]:
        entries.append(entry)
        listeners.append(_listener(entry, route_config, index))
    return Translation(listeners, clusters, members, entries, index.replicas, index.services, index.notes)


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _main_namespace(index: Index) -> str:
    counts = Counter(s.namespace for s in index.services.values())
    return counts.most_common(1)[0][0] if counts else "default"


def _listener(entry: Entry, route_config: dict[str, Any], index: Index) -> dict[str, Any]:
    """An HTTP listener on an ephemeral loopback port, with istiod's connection-manager settings:
    no stream idle timeout, path normalization, websocket upgrades; the gateway trusts the remote
    address (buildHTTPConnectionManager, buildGatewayConnectionManager)."""
    hcm = typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                stat_prefix=entry.stat_prefix, codec_type="AUTO", route_config=route_config,
                http_filters=http_filters(entry, index.extensions), use_remote_address=entry.kind == "gateway",
                normalize_path=True, path_with_escaped_slashes_action="KEEP_UNCHANGED", stream_idle_timeout="0s",
                upgrade_configs=[{"upgrade_type": "websocket"}])
    return {"name": entry.name, "address": _address(0),
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def _route_config(name: str, virtual_hosts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "virtual_hosts": virtual_hosts, "validate_clusters": False,
            "ignore_port_in_host_matching": True, "max_direct_response_body_size_bytes": 1024 * 1024}


# --- mesh ------------------------------------------------------------------------------------


def _mesh(index: Index, scale: Scale, caller: str) -> list[tuple[Entry, dict[str, Any]]]:
    """One sidecar outbound listener per HTTP Service port (istiod: buildSidecarOutboundHTTPRouteConfig)."""
    out = []
    for port in sorted({p.number for s in index.services.values() for p in s.ports if p.is_http}):
        if any(p.protocol == "auto" for s in index.services.values() for p in s.ports if p.number == port):
            index.note(f"Service port {port} has no protocol: istiod sniffs it; the rehearsal routes it as HTTP")
        vhosts = _mesh_virtual_hosts(index, scale, port, caller)
        hosts = tuple(d for vh in vhosts for d in vh["domains"])
        index.note("outboundTrafficPolicy ALLOW_ANY passthrough is not rehearsed: unknown hosts get 502")
        vhosts.append({"name": "block_all", "domains": ["*"], "routes": [
            {"name": "block_all", "match": {"prefix": "/"}, "direct_response": {"status": 502}}]})
        out.append((Entry(f"0.0.0.0_{port}", "mesh", port, hosts), _route_config(str(port), vhosts)))
    return out


def _mesh_virtual_hosts(index: Index, scale: Scale, port: int, caller: str) -> list[dict[str, Any]]:
    """Virtual hosts for one port: each mesh VirtualService with a Service on the port, then a
    default route for every Service left (BuildSidecarVirtualHostWrapper)."""
    on_port = {h: s for h, s in index.services.items() if (p := s.port(port)) is not None and p.is_http}
    ctx = RouteContext(index, scale, frozenset({MESH}), port)
    vhosts: list[dict[str, Any]] = []
    taken: set[str] = set()
    served: set[str] = set()
    for vs in index.virtual_services:
        spec = vs.get("spec") or {}
        if MESH not in spec.get("gateways", []):
            continue
        hosts = [fqdn(h, vs["metadata"].get("namespace", "default")) for h in spec.get("hosts") or []]
        services = [s for h, s in on_port.items() if any(host_matches(v, h) for v in hosts) and h not in served]
        others = [h for h in hosts if not any(host_matches(h, s) for s in on_port)]
        if not services and port != 80:  # istiod's selectVirtualServices
            continue
        routes = build_routes(vs, ctx)
        if not routes:
            continue
        for host in others:
            _add_vhost(vhosts, taken, f"{host}:{port}", [host], routes)
        for service in services:
            served.add(service.host)
            _add_vhost(vhosts, taken, f"{service.host}:{port}", _service_domains(service, caller), routes)
    for service in on_port.values():
        if service.host not in served:
            _add_vhost(vhosts, taken, f"{service.host}:{port}", _service_domains(service, caller),
                       [_default_route(index, service, port)])
    return vhosts


def _add_vhost(vhosts: list[dict[str, Any]], taken: set[str], name: str, domains: list[str],
               routes: list[dict[str, Any]]) -> None:
    """Add a virtual host with the domains no earlier one claimed (istiod: dedupeDomains)."""
    fresh = [d for d in domains if d not in taken]
    if fresh:
        taken.update(fresh)
        vhosts.append({"name": name, "domains": fresh, "routes": routes})


def _service_domains(service: Service, caller: str) -> list[str]:
    """The Host values a sidecar in `caller`'s namespace accepts for a Service, ports ignored
    (istiod: generateVirtualHostDomains with the absolute-FQDN variant on by default)."""
    name, ns = service.name, service.namespace
    if ns == caller:
        return [service.host, f"{service.host}.", name, f"{name}.{ns}.svc", f"{name}.{ns}"]
    return [service.host, f"{service.host}.", f"{name}.{ns}", f"{name}.{ns}.svc"]


def _default_route(index: Index, service: Service, port: int) -> dict[str, Any]:
    """The route of a Service no VirtualService routes: its whole-Service cluster, no timeout,
    the mesh's default retries (istiod: BuildDefaultHTTPOutboundRoute)."""
    hashing = hash_policy(consistent_hash(index, service.host, None, port))
    action: dict[str, Any] = {"cluster": cluster_name(port, "", service.host), "timeout": "0s",
                              "max_grpc_timeout": "0s"}
    # BuildDefaultHTTPOutboundRoute converts the mesh's default retries with hashPolicy=false, before
    # buildSidecarVirtualHostForService adds the consistent hash: the previous-hosts predicate stays,
    # and a retry may leave the hashed host (unlike a VirtualService route with one hashed destination).
    retry = retry_policy(None, False, Scale(), "")
    if retry is not None:
        action["retry_policy"] = retry
    if hashing is not None:
        action["hash_policy"] = [hashing]
    return {"name": "default", "match": {"prefix": "/"}, "route": action}


# --- gateway ---------------------------------------------------------------------------------


def _gateways(index: Index, scale: Scale) -> list[tuple[Entry, dict[str, Any]]]:
    """One listener per Gateway server port (istiod: buildGatewayListeners, buildGatewayHTTPRouteConfig)."""
    by_port: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for key, gateway in index.gateways.items():
        only(gateway.get("spec"), {"selector", "servers"}, f"{where(gateway)}: spec")
        index.note("Gateway selector: every Gateway is served by the one rehearsal gateway proxy")
        for i, server in enumerate((gateway.get("spec") or {}).get("servers") or []):
            _check_server(server, index, f"{where(gateway)}: spec.servers[{i}]")
            by_port.setdefault(int(server["port"]["number"]), []).append((key, server))
    out = []
    for port, servers in sorted(by_port.items()):
        tls = any(_is_https(s) for _, s in servers)
        redirect = any((s.get("tls") or {}).get("httpsRedirect") for _, s in servers)
        if sum(1 for _, s in servers if _is_https(s)) > 1:
            index.note(f"gateway port {port}: several HTTPS servers share one route table (istiod keeps one per server, by SNI)")
        vhosts = _gateway_virtual_hosts(index, scale, port, servers)
        hosts = tuple(d for vh in vhosts for d in vh["domains"] if d != "*")
        entry = Entry(f"gateway_{port}", "gateway", port, hosts, tls=tls, https_redirect=redirect)
        out.append((entry, _route_config(f"{'https' if tls else 'http'}.{port}", vhosts)))
    return out


def _is_https(server: Mapping[str, Any]) -> bool:
    return str(server["port"].get("protocol", "")).upper() == "HTTPS"


def _check_server(server: Mapping[str, Any], index: Index, at: str) -> None:
    """Refuse what a rehearsal cannot serve; note the TLS it serves as plain HTTP."""
    only(server, _SERVER_KEYS, at)
    for key in ("bind", "defaultEndpoint"):
        if server.get(key):
            raise refuse(f"{at}.{key}", "binding servers to addresses is not rehearsed")
    protocol = str(server["port"].get("protocol", "")).upper()
    tls = only(server.get("tls"), _TLS_KEYS, f"{at}.tls")
    if protocol in ("HTTP", "HTTP2", "GRPC", "GRPC-WEB"):
        return
    if protocol == "HTTPS" and tls.get("mode", "SIMPLE") in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"):
        index.note("Gateway HTTPS servers are served as plain HTTP on loopback (TLS is not rehearsed)")
        return
    raise refuse(f"{at}.port.protocol", f"{protocol} {tls.get('mode', '')}".strip() + " servers are not rehearsed")


def _gateway_virtual_hosts(index: Index, scale: Scale, port: int,
                           servers: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Virtual hosts for a gateway port: per server, the VirtualServices bound to its Gateway, for
    the hosts both name (server hosts scoped `ns/host` count only for VirtualServices in ns);
    catch-all routes move last; an httpsRedirect server requires TLS of every host it lists."""
    vhosts: dict[str, dict[str, Any]] = {}
    for gateway, server in servers:
        redirect = bool((server.get("tls") or {}).get("httpsRedirect"))
        ctx = RouteContext(index, scale, frozenset({gateway}), port, tls=server.get("tls") is not None)
        for vs in index.virtual_services:
            if gateway not in (vs.get("spec") or {}).get("gateways", []):
                continue
            namespace = vs["metadata"].get("namespace", "default")
            vs_hosts = [fqdn(h, namespace) for h in (vs.get("spec") or {}).get("hosts") or []]
            hosts = intersect_hosts(_server_hosts(server, gateway, namespace), vs_hosts)
            routes = build_routes(vs, ctx) if hosts else []
            for host in hosts if routes else []:
                vhost = vhosts.setdefault(host, {"name": f"{host}:{port}", "domains": [host], "routes": []})
                vhost["routes"] = [*vhost["routes"], *routes]
                if redirect:
                    vhost["require_tls"] = "ALL"
        for host in _sanitized_hosts(server, gateway) if redirect else []:
            # istiod looks these up by the server host as written (after sanitizeServerHostNamespace):
            # a `ns/host` entry gets a virtual host of its own that no Host header matches
            # (buildGatewayHTTPRouteConfig).
            vhost = vhosts.setdefault(host, {"name": f"{host}:{port}", "domains": [host], "routes": []})
            vhost["require_tls"] = "ALL"
    if not vhosts:
        return [{"name": f"blackhole:{port}", "domains": ["*"], "routes": []}]
    for vhost in vhosts.values():
        vhost["routes"] = [r for r in vhost["routes"] if not is_catch_all(r)] + [r for r in vhost["routes"] if is_catch_all(r)]
    return sorted(vhosts.values(), key=lambda v: v["name"])


def _sanitized_hosts(server: Mapping[str, Any], gateway: str) -> list[str]:
    """Server hosts as istiod keeps them: `./host` -> `<gateway ns>/host`, `*/host` -> `host`
    (sanitizeServerHostNamespace), lower-cased."""
    gateway_ns = gateway.split("/", 1)[0]
    out = []
    for host in server.get("hosts") or []:
        scope, _, name = str(host).lower().rpartition("/")
        if scope == "*" and name == "*":
            return ["*"]
        out.append(f"{gateway_ns}/{name}" if scope == "." else name if scope in ("", "*") else f"{scope}/{name}")
    return out


def _server_hosts(server: Mapping[str, Any], gateway: str, namespace: str) -> list[str]:
    """A server's hosts as seen by a VirtualService in `namespace`: `ns/host` only for that
    namespace, bare hosts for every namespace (host.NamesForNamespace)."""
    out = []
    for host in _sanitized_hosts(server, gateway):
        scope, _, name = host.rpartition("/")
        if scope in ("", namespace):
            out.append(name)
    return out
